"""Issue #9, item 20: a mailing's autocompletes offer only what the mailing may be saved with.

A mailing uses its owner's clients and message only (``permissions.mailing_choices_owner``).
Everything goes through the real autocomplete URL, as the select2 widget calls it.
"""
import re
from html import unescape

import pytest
from django.urls import reverse

from mailings.models import Client, Message
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db


@pytest.fixture
def everyones(alice, bob, superuser):
    """A client and a message for each of alice, bob and the superuser."""
    for owner in (alice, bob, superuser):
        Client.objects.create(owner=owner, email=f"client-of-{owner.email}")
        Message.objects.create(owner=owner, subject=f"Message of {owner.email}", body="<p>x</p>")


def autocomplete(client, user, field, **extra):
    client.force_login(user, backend="backoffice.backends.EmailBackend")
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "mailings", "model_name": "mailing", "field_name": field, "term": "", **extra},
    )
    assert response.status_code == 200
    return sorted(result["text"] for result in response.json()["results"])


def widget_url(page, field):
    """The URL the page's select2 widget of ``field`` asks for choices."""
    tag = re.search(rf'<select[^>]*name="{field}"[^>]*>', page).group(0)
    return unescape(re.search(r'data-ajax--url="([^"]+)"', tag).group(1))


def test_a_superuser_editing_alices_mailing_is_offered_alices_clients_and_messages(client, superuser, alice,
                                                                                    everyones):
    mailing = make_mailing(alice, 0)
    client.force_login(superuser, backend="backoffice.backends.EmailBackend")
    page = client.get(reverse("admin:mailings_mailing_change", args=[mailing.pk])).content.decode()

    for field in ("clients", "message"):
        assert widget_url(page, field) == f"{reverse('admin:autocomplete')}?owner={alice.pk}"
    assert autocomplete(client, superuser, "clients", owner=alice.pk) == ["client-of-alice@example.com"]
    assert autocomplete(client, superuser, "message", owner=alice.pk) == sorted(
        ["Message of alice@example.com", str(mailing.message)]
    )


def test_a_superuser_creating_a_mailing_is_offered_their_own(client, superuser, everyones):
    client.force_login(superuser, backend="backoffice.backends.EmailBackend")
    page = client.get(reverse("admin:mailings_mailing_add")).content.decode()

    assert widget_url(page, "clients") == f"{reverse('admin:autocomplete')}?owner={superuser.pk}"
    assert autocomplete(client, superuser, "clients") == ["client-of-root@example.com"]
    assert autocomplete(client, superuser, "message") == ["Message of root@example.com"]


def test_a_user_is_offered_their_own_whatever_owner_is_asked_for(client, alice, bob, everyones):
    assert autocomplete(client, alice, "clients", owner=bob.pk) == ["client-of-alice@example.com"]
    assert autocomplete(client, alice, "message") == ["Message of alice@example.com"]


def test_a_manager_edits_no_mailing_and_is_offered_nothing(client, manager, alice, everyones):
    assert autocomplete(client, manager, "clients", owner=alice.pk) == []
    assert autocomplete(client, manager, "message") == []


def test_the_client_list_search_of_a_superuser_still_shows_everyones(client, superuser, everyones):
    client.force_login(superuser, backend="backoffice.backends.EmailBackend")
    response = client.get(reverse("admin:mailings_client_changelist"), {"q": "client-of"})

    assert len(response.context["cl"].result_list) == 3
