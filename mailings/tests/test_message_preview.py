"""The preview of an unsaved message as one of the owner's clients receives it (issue #13, item 15)."""
import pytest
from django.urls import reverse

from mailings.models import Client, Message

pytestmark = pytest.mark.django_db

PREVIEW_URL = reverse("admin:mailings_message_preview")


def post_preview(client, **data):
    return client.post(PREVIEW_URL, {"subject": "Hi {{ full_name }}", "body": "<p>For {{ email }}</p>", **data})


def test_the_preview_is_the_built_message_for_the_chosen_client(client, alice):
    Client.objects.create(owner=alice, email="ann@example.com", full_name="Ann")
    client.force_login(alice)
    preview = post_preview(client, preview_email="ANN@example.com").context["preview"]
    assert (preview.to, preview.subject) == ("Ann <ann@example.com>", "Hi Ann")
    assert "<p>For ann@example.com</p>" in preview.html
    assert preview.text.startswith("For ann@example.com\n")
    assert "/unsubscribe/" in preview.text  # the footer every message carries
    assert not Message.objects.exists()


def test_another_owners_client_is_not_previewed(client, alice, bob):
    Client.objects.create(owner=bob, email="bens@example.com", full_name="Ben")
    client.force_login(alice)
    response = post_preview(client, preview_email="bens@example.com")
    assert response.context["preview"].to == "Иван Петров <ivan.petrov@example.com>"
    assert "Среди ваших клиентов нет адреса bens@example.com" in response.content.decode()


def test_the_body_is_sanitised_in_the_preview(client, alice):
    client.force_login(alice)
    preview = post_preview(client, body="<p>x</p><script>alert(1)</script>").context["preview"]
    assert "<script" not in preview.html


def test_a_manager_and_a_get_are_refused(client, alice, manager):
    client.force_login(manager)
    assert post_preview(client).status_code == 403
    client.force_login(alice)
    assert client.get(PREVIEW_URL).status_code == 403
