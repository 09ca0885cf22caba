"""Open every changelist and add page as a superuser: none may fail."""
import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

pytestmark = pytest.mark.django_db

MODELS = [(model._meta.app_label, model._meta.model_name) for model in admin.site._registry]
# Records written by the system, never by hand: their add page is refused even to a superuser.
READ_ONLY = {
    ("mailings", "attempt"), ("mailings", "delivery"),
    ("django_q", "success"), ("django_q", "failure"), ("django_q", "ormq"),
    ("axes", "accessattempt"), ("axes", "accesslog"), ("axes", "accessfailurelog"),
}


@pytest.mark.parametrize("app_label,model_name", MODELS)
def test_changelist_opens(client, superuser, app_label, model_name):
    client.force_login(superuser)
    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("app_label,model_name", MODELS)
def test_add_page_opens_or_is_refused_cleanly(client, superuser, app_label, model_name):
    client.force_login(superuser)
    try:
        url = reverse(f"admin:{app_label}_{model_name}_add")
    except NoReverseMatch:
        pytest.skip("no add page")
    response = client.get(url)
    assert response.status_code == (403 if (app_label, model_name) in READ_ONLY else 200)


def test_admin_index_opens(client, superuser):
    client.force_login(superuser)
    assert client.get(reverse("admin:index")).status_code == 200
