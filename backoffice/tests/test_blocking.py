"""Blocking: no login (with a clear reason), open sessions end, only allowed people block."""
import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse

from backoffice.accounts import service as accounts_service
from backoffice.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def admin_login(client, email, password=PASSWORD):
    return client.post(reverse("admin:login"), {"username": email, "password": password})


def test_a_blocked_user_is_told_the_account_is_blocked(client, alice, manager):
    accounts_service.block_user(user=alice, actor=manager)
    response = admin_login(client, "alice@example.com")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert [e.code for e in response.context["form"].non_field_errors().as_data()] == ["blocked"]


def test_a_wrong_password_on_a_blocked_account_reveals_nothing(client, alice, manager):
    accounts_service.block_user(user=alice, actor=manager)
    response = admin_login(client, "alice@example.com", "not-her-password")
    codes = [e.code for e in response.context["form"].non_field_errors().as_data()]
    assert codes == ["invalid_login"]


def test_an_unverified_user_is_told_to_verify_the_address(client, alice):
    alice.email_verified_at = None
    alice.save()
    response = admin_login(client, "alice@example.com")
    assert "_auth_user_id" not in client.session
    assert [e.code for e in response.context["form"].non_field_errors().as_data()] == ["not_verified"]


def test_the_public_login_form_explains_blocking_too(rf, alice, manager):
    from backoffice.accounts.forms import LoginForm

    accounts_service.block_user(user=alice, actor=manager)
    form = LoginForm(rf.post("/"), data={"username": "alice@example.com", "password": PASSWORD})
    assert not form.is_valid()
    assert [e.code for e in form.non_field_errors().as_data()] == ["blocked"]


def test_an_open_session_of_a_blocked_user_ends_at_the_next_request(client, alice, manager):
    client.force_login(alice)
    assert client.get(reverse("admin:mailings_client_changelist")).status_code == 200
    accounts_service.block_user(user=alice, actor=manager)
    response = client.get(reverse("admin:mailings_client_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_after_unblocking_the_user_can_log_in_again(client, alice, manager):
    accounts_service.block_user(user=alice, actor=manager)
    accounts_service.unblock_user(user=alice, actor=manager)
    assert admin_login(client, "alice@example.com").status_code == 302


def block_action(client, actor, *targets, action="block_users"):
    client.force_login(actor)
    return client.post(
        reverse("admin:backoffice_user_changelist"),
        {"action": action, "_selected_action": [t.pk for t in targets]},
    )


def test_a_manager_blocks_a_user_and_the_admin_log_records_it(client, manager, alice):
    block_action(client, manager, alice)
    alice.refresh_from_db()
    assert not alice.is_active and alice.blocked_by == manager
    entry = LogEntry.objects.get(object_id=str(alice.pk), action_flag=CHANGE)
    assert entry.user == manager


def test_a_manager_cannot_block_a_superuser_or_themselves(client, manager, superuser):
    block_action(client, manager, manager, superuser)
    manager.refresh_from_db()
    superuser.refresh_from_db()
    assert manager.is_active and superuser.is_active


def test_a_manager_unblocks_a_user(client, manager, alice):
    accounts_service.block_user(user=alice, actor=manager)
    block_action(client, manager, alice, action="unblock_users")
    alice.refresh_from_db()
    assert alice.is_active and alice.blocked_at is None


def test_a_plain_user_cannot_use_the_block_action(client, alice, bob):
    response = block_action(client, alice, bob)
    assert response.status_code == 403
    bob.refresh_from_db()
    assert bob.is_active


def test_a_manager_sees_users_read_only(client, manager, alice):
    client.force_login(manager)
    assert client.get(reverse("admin:backoffice_user_changelist")).status_code == 200
    assert client.get(reverse("admin:backoffice_user_change", args=[alice.pk])).status_code == 200
    response = client.post(
        reverse("admin:backoffice_user_change", args=[alice.pk]),
        {"email": "changed@example.com", "is_superuser": "on"},
    )
    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.email == "alice@example.com" and not alice.is_superuser


def test_a_manager_blocks_from_the_users_page_after_confirming(client, manager, alice):
    url = reverse("admin:backoffice_user_block_user_detail", args=[alice.pk])
    client.force_login(manager)
    assert client.get(url).status_code == 200
    alice.refresh_from_db()
    assert alice.is_active  # the GET only asks
    assert client.post(url).status_code == 302
    alice.refresh_from_db()
    assert not alice.is_active
    unblock = reverse("admin:backoffice_user_unblock_user_detail", args=[alice.pk])
    client.post(unblock)
    alice.refresh_from_db()
    assert alice.is_active


def test_the_block_page_of_a_superuser_is_refused(client, manager, superuser):
    client.force_login(manager)
    url = reverse("admin:backoffice_user_block_user_detail", args=[superuser.pk])
    assert client.post(url).status_code == 403
    superuser.refresh_from_db()
    assert superuser.is_active


def test_a_user_cannot_reach_the_block_page(client, alice, bob):
    client.force_login(alice)
    assert client.post(reverse("admin:backoffice_user_block_user_detail", args=[bob.pk])).status_code == 403


def test_the_admin_log_says_what_was_done_in_the_persons_language(client, manager, alice):
    block_action(client, manager, alice)
    block_action(client, manager, alice, action="unblock_users")

    messages = LogEntry.objects.filter(object_id=str(alice.pk), action_flag=CHANGE).order_by("pk")
    assert [entry.change_message for entry in messages] == ["Пользователь заблокирован.", "Пользователь разблокирован."]
