"""The admin of clients, messages and mailings: validation, scoping, actions, preview."""
import json

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mailings.models import Client, Mailing, Message
from mailings.tests.factories import make_mailing

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def mailing_payload(message, clients, start="2030-01-01", end=("", ""), periodicity="once"):
    return {
        "message": message.pk,
        "clients": [c.pk for c in clients],
        "start_at_0": start,
        "start_at_1": "10:00",
        "end_at_0": end[0],
        "end_at_1": end[1],
        "periodicity": periodicity,
    }


def form_errors(response):
    return {field: [str(e) for e in errors] for field, errors in response.context["adminform"].form.errors.items()}


# --- Clients ------------------------------------------------------------------------------


def test_a_duplicate_address_of_the_same_owner_is_a_form_error_not_a_500(client, alice):
    Client.objects.create(owner=alice, email="ann@example.com")
    client.force_login(alice)
    response = client.post(reverse("admin:mailings_client_add"), {"email": "ANN@example.com", "full_name": "A"})
    assert response.status_code == 200
    assert form_errors(response) == {"email": ["You already have a client with this e-mail."]}


def test_two_owners_may_share_an_address(client, alice, bob):
    Client.objects.create(owner=bob, email="ann@example.com")
    client.force_login(alice)
    response = client.post(reverse("admin:mailings_client_add"), {"email": "Ann@Example.com"})
    assert response.status_code == 302
    assert Client.objects.get(owner=alice).email == "ann@example.com"


def test_changing_a_client_keeps_its_own_address_valid(client, alice):
    ann = Client.objects.create(owner=alice, email="ann@example.com")
    client.force_login(alice)
    response = client.post(reverse("admin:mailings_client_change", args=[ann.pk]), {"email": "ann@example.com", "full_name": "Ann"})
    assert response.status_code == 302


# --- Messages -----------------------------------------------------------------------------


def test_a_message_body_is_stored_sanitised(client, alice):
    client.force_login(alice)
    body = '<p onclick="x()">Hi {{ full_name }}</p><script>alert(1)</script>'
    response = client.post(reverse("admin:mailings_message_add"), {"subject": "S", "body": body})
    assert response.status_code == 302
    assert Message.objects.get(owner=alice).body == "<p>Hi {{ full_name }}</p>"


def test_a_body_with_nothing_left_after_sanitising_is_refused(client, alice):
    client.force_login(alice)
    response = client.post(reverse("admin:mailings_message_add"), {"subject": "S", "body": "<script>x</script>"})
    assert form_errors(response) == {"body": ["Write the text of the message."]}


def test_the_message_page_previews_it_with_sample_values(client, alice):
    message = Message.objects.create(owner=alice, subject="Hello {{ full_name }}", body="<p>Dear {{full_name}}, {{ email }}</p>")
    client.force_login(alice)
    page = client.get(reverse("admin:mailings_message_change", args=[message.pk])).content.decode()
    assert "Hello Ivan Petrov" in page
    assert "<p>Dear Ivan Petrov, ivan.petrov@example.com</p>" in page


def test_the_message_editor_is_ckeditor(client, alice):
    client.force_login(alice)
    page = client.get(reverse("admin:mailings_message_add")).content.decode()
    assert "django_ckeditor_5" in page


def test_editor_uploads_need_a_logged_in_staff_user(client, alice, settings, tmp_path):
    from io import BytesIO

    from PIL import Image

    settings.MEDIA_ROOT = tmp_path
    buffer = BytesIO()
    Image.new("RGB", (2, 2)).save(buffer, "PNG")
    url = reverse("ck_editor_5_upload_file")

    def image():
        return SimpleUploadedFile("a.png", buffer.getvalue(), content_type="image/png")

    assert client.post(url, {"upload": image()}).status_code == 403
    client.force_login(alice)
    response = client.post(url, {"upload": image()})
    assert response.status_code == 200 and json.loads(response.content)["url"].startswith("/media/")


# --- Mailings -----------------------------------------------------------------------------


def test_a_valid_mailing_is_saved_for_its_owner(client, alice):
    message = Message.objects.create(owner=alice, subject="S", body="<p>b</p>")
    ann = Client.objects.create(owner=alice, email="ann@example.com")
    client.force_login(alice)
    response = client.post(reverse("admin:mailings_mailing_add"), mailing_payload(message, [ann]))
    assert response.status_code == 302, form_errors(response)
    mailing = Mailing.objects.get()
    assert mailing.owner == alice and list(mailing.clients.all()) == [ann]


def test_a_start_in_the_past_is_allowed(client, alice):
    message = Message.objects.create(owner=alice, subject="S", body="<p>b</p>")
    ann = Client.objects.create(owner=alice, email="ann@example.com")
    client.force_login(alice)
    response = client.post(reverse("admin:mailings_mailing_add"), mailing_payload(message, [ann], start="2020-01-01"))
    assert response.status_code == 302


@pytest.mark.parametrize(
    "change,field,error",
    [
        ({"clients": []}, "clients", "Choose at least one client."),
        ({"end_at_0": "2029-12-31", "end_at_1": "10:00"}, "end_at", "The end must be after the first send."),
        ({"end_at_0": "2030-01-01", "end_at_1": "10:00"}, "end_at", "The end must be after the first send."),
        ({"message": "bob"}, "message", "Choose one of your own messages."),
        ({"clients": "bob"}, "clients", "Choose only your own clients."),
    ],
    ids=["no-client", "end-before-start", "end-equals-start", "someone-elses-message", "someone-elses-client"],
)
def test_an_invalid_mailing_is_explained(client, alice, bob, change, field, error):
    message = Message.objects.create(owner=alice, subject="S", body="<p>b</p>")
    ann = Client.objects.create(owner=alice, email="ann@example.com")
    bobs = make_mailing(bob, 1)
    payload = mailing_payload(message, [ann])
    for key, value in change.items():
        if value == "bob":
            value = bobs.message.pk if key == "message" else [ann.pk, bobs.clients.get().pk]
        payload[key] = value
    client.force_login(alice)
    response = client.post(reverse("admin:mailings_mailing_add"), payload)
    assert response.status_code == 200
    assert error in form_errors(response).get(field, [])
    assert not Mailing.objects.filter(owner=alice).exists()


def test_autocomplete_offers_only_the_users_own_clients(client, alice, bob):
    Client.objects.create(owner=alice, email="ann@example.com")
    Client.objects.create(owner=bob, email="anna@example.com")
    client.force_login(alice)
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "mailings", "model_name": "mailing", "field_name": "clients", "term": "ann"},
    )
    assert [r["text"] for r in response.json()["results"]] == ["ann@example.com"]


def test_the_mailing_page_shows_state_counts_and_last_attempt(client, alice):
    from django.utils import timezone

    from mailings.models import Attempt

    mailing = make_mailing(alice, 1)
    Attempt.objects.create(mailing=mailing, scheduled_for=timezone.now(), finished_at=timezone.now(),
                           status="failure", sent=3, failed=2)
    client.force_login(alice)
    page = client.get(reverse("admin:mailings_mailing_change", args=[mailing.pk])).content.decode()
    assert "3 sent, 2 failed" in page
    assert "created" in page


def toggle(client, user, mailing, enable=False):
    client.force_login(user)
    name = "enable" if enable else "disable"
    return client.post(reverse("admin:mailings_mailing_changelist"), {"action": f"{name}_mailings", "_selected_action": [mailing.pk]})


@pytest.mark.parametrize("actor", ["alice", "manager", "superuser"])
def test_owner_manager_and_superuser_disable_and_enable_with_a_log_entry(client, request, alice, actor):
    mailing = make_mailing(alice, 1)
    user = request.getfixturevalue(actor)
    toggle(client, user, mailing)
    mailing.refresh_from_db()
    assert not mailing.is_enabled and mailing.disabled_by == user
    toggle(client, user, mailing, enable=True)
    mailing.refresh_from_db()
    assert mailing.is_enabled
    assert LogEntry.objects.filter(user=user, object_id=str(mailing.pk)).count() == 2


def test_another_user_cannot_disable_a_mailing(client, alice, bob):
    mailing = make_mailing(alice, 1)
    toggle(client, bob, mailing)
    mailing.refresh_from_db()
    assert mailing.is_enabled


def test_a_content_manager_cannot_disable_a_mailing(client, alice, content_manager):
    mailing = make_mailing(alice, 1)
    assert toggle(client, content_manager, mailing).status_code == 403
    mailing.refresh_from_db()
    assert mailing.is_enabled


def test_the_detail_action_asks_then_disables_on_post(client, alice, manager):
    mailing = make_mailing(alice, 1)
    url = reverse("admin:mailings_mailing_disable_mailing_detail", args=[mailing.pk])
    client.force_login(manager)
    assert client.get(url).status_code == 200
    mailing.refresh_from_db()
    assert mailing.is_enabled  # a GET changes nothing
    assert client.post(url).status_code == 302
    mailing.refresh_from_db()
    assert not mailing.is_enabled


def test_the_detail_action_on_someone_elses_mailing_is_refused(client, alice, bob):
    mailing = make_mailing(alice, 1)
    client.force_login(bob)
    response = client.post(reverse("admin:mailings_mailing_disable_mailing_detail", args=[mailing.pk]))
    # Refused by the action's permission check, the same for an unknown and a hidden mailing.
    assert response.status_code == 403
    mailing.refresh_from_db()
    assert mailing.is_enabled


def test_a_disabled_mailing_shows_as_disabled(client, alice):
    mailing = make_mailing(alice, 1, is_enabled=False)
    client.force_login(alice)
    response = client.get(reverse("admin:mailings_mailing_changelist"))
    assert "disabled" in response.content.decode()
