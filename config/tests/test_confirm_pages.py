"""Every detail action that changes state asks on one and the same confirmation page (issue #10)."""
import pytest
from django.urls import reverse

from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db

CONFIRM_TEMPLATE = "admin/confirm_action.html"


def asked_with(client, user, url):
    client.force_login(user, backend="backoffice.backends.EmailBackend")
    response = client.get(url)
    assert response.status_code == 200
    return [template.name for template in response.templates]


@pytest.mark.parametrize("action", ["disable_mailing_detail", "send_test_action"])
def test_a_mailing_button_asks_on_the_shared_page(client, alice, action):
    mailing = make_mailing(alice, 1)
    templates = asked_with(client, alice, reverse(f"admin:mailings_mailing_{action}", args=[mailing.pk]))
    assert templates[0] == CONFIRM_TEMPLATE


def test_blocking_a_user_asks_on_the_shared_page(client, manager, alice):
    templates = asked_with(client, manager, reverse("admin:backoffice_user_block_user_detail", args=[alice.pk]))
    assert templates[0] == CONFIRM_TEMPLATE
