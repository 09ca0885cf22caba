"""The error pages in the site's style."""
import pytest
from django.template.loader import render_to_string
from django.test import override_settings
from django.urls import path


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", boom)]


def test_the_500_page_renders_without_a_request_or_database():
    page = render_to_string("500.html")
    assert "500" in page and "site/site.css" in page


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
def test_an_unhandled_error_answers_the_styled_500_page(client):
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    assert "site/site.css" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/nowhere/", "/blog/%ff/", "/accounts/verify/%00/", "/blog/x/y/"])
def test_odd_addresses_answer_a_clean_4xx(client, path):
    response = client.get(path)
    assert 400 <= response.status_code < 500
