"""Registration, e-mail verification, resending the link, logging in and out, and password
reset, through the public pages and a real SMTP server on loopback."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice import permissions
from backoffice.accounts import service as accounts_service
from backoffice.accounts import tokens
from backoffice.tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
User = get_user_model()

STRONG_PASSWORD = "Plum-Orbit-47-Lantern"


def register(client, email="newbie@example.com", full_name="Новичок Иванов", password=STRONG_PASSWORD):
    return client.post(
        reverse("register"),
        {"email": email, "full_name": full_name, "password1": password, "password2": password},
    )


def text_of(received):
    message = received.message
    part = message.get_body(preferencelist=("plain",))
    return part.get_content()


def link_in(received, pattern):
    match = re.search(rf"https?://[^\s\"<>]*{pattern}[^\s\"<>]*", text_of(received))
    assert match, text_of(received)
    return match.group(0)


def verification_path(received):
    return re.sub(r"^https?://[^/]+", "", link_in(received, "/accounts/verify/"))


def login(client, email="newbie@example.com", password=STRONG_PASSWORD):
    return client.post(reverse("login"), {"username": email, "password": password})


# --- Registration -------------------------------------------------------------------------


def test_registration_creates_an_unverified_account_and_emails_a_link(client, smtp_server):
    response = register(client)

    assert response.status_code == 302
    assert response["Location"] == reverse("register-done")
    user = User.objects.get(email="newbie@example.com")
    assert user.is_active and not user.is_staff and user.email_verified_at is None
    assert smtp_server.wait_for(1)
    received = smtp_server.messages[0]
    assert received.rcpt_tos == ["newbie@example.com"]
    assert "/accounts/verify/" in text_of(received)
    assert "newbie@example.com" in client.get(response["Location"]).content.decode()


def test_an_unverified_account_cannot_log_in(client, smtp_server):
    register(client)
    response = login(client)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_the_verification_link_activates_the_account_for_the_admin(client, smtp_server):
    register(client)
    assert smtp_server.wait_for(1)

    path = verification_path(smtp_server.messages[0])
    page = client.get(path)  # the link opens a page; only its "Confirm" button verifies
    assert page.status_code == 200
    assert 'Confirm</button>' in page.content.decode()
    assert User.objects.get(email="newbie@example.com").email_verified_at is None

    response = client.post(path)

    assert response.status_code == 200
    user = User.objects.get(email="newbie@example.com")
    assert user.email_verified_at is not None
    assert user.is_staff and user.is_active
    assert permissions.USERS in user.groups.values_list("name", flat=True)
    response = login(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_verification_link_works_only_once(client, smtp_server):
    register(client)
    assert smtp_server.wait_for(1)
    path = verification_path(smtp_server.messages[0])
    client.post(path)

    response = client.get(path)

    assert response.status_code == 400
    page = response.content.decode()
    assert "already been used" in page
    assert client.post(path).status_code == 400
    assert reverse("login") in page


def test_an_expired_link_explains_itself_and_offers_a_new_one(client, smtp_server, settings):
    register(client)
    assert smtp_server.wait_for(1)
    path = verification_path(smtp_server.messages[0])
    settings.EMAIL_VERIFICATION_MAX_AGE = -1  # every link issued so far is now too old

    response = client.get(path)

    assert response.status_code == 400
    page = response.content.decode()
    assert "expired" in page
    assert reverse("resend-verification") in page
    assert User.objects.get(email="newbie@example.com").email_verified_at is None


def test_a_mangled_link_explains_itself(client):
    response = client.get(reverse("verify-email", args=["not-a-token"]))
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_a_link_for_another_address_stops_working_when_the_address_changes(client, smtp_server):
    register(client)
    assert smtp_server.wait_for(1)
    User.objects.filter(email="newbie@example.com").update(email="other@example.com")
    response = client.get(verification_path(smtp_server.messages[0]))
    assert response.status_code == 400
    assert User.objects.get(email="other@example.com").email_verified_at is None


def test_verification_never_unblocks_a_blocked_account(client, smtp_server, manager):
    register(client)
    assert smtp_server.wait_for(1)
    user = User.objects.get(email="newbie@example.com")
    accounts_service.block_user(user=user, actor=manager)

    response = client.get(verification_path(smtp_server.messages[0]))
    assert response.status_code == 400
    assert "blocked" in response.content.decode()

    response = client.post(verification_path(smtp_server.messages[0]))

    assert response.status_code == 400
    assert "blocked" in response.content.decode()
    user.refresh_from_db()
    assert not user.is_active
    assert user.email_verified_at is None and not user.is_staff
    login(client)
    assert "_auth_user_id" not in client.session


def test_verifying_after_being_blocked_later_keeps_the_block(client, smtp_server, manager):
    """A verified then blocked user clicking the old link changes nothing."""
    register(client)
    assert smtp_server.wait_for(1)
    path = verification_path(smtp_server.messages[0])
    client.post(path)
    user = User.objects.get(email="newbie@example.com")
    accounts_service.block_user(user=user, actor=manager)

    client.post(path)

    user.refresh_from_db()
    assert not user.is_active


def test_a_token_is_signed_for_one_user_state():
    user = User.objects.create_user(email="x@example.com", password=PASSWORD)
    token = tokens.make_token(user)
    assert tokens.check_token(token).outcome == "valid"
    user.email_verified_at = timezone.now()
    user.save()
    assert tokens.check_token(token).outcome == "used"
    assert tokens.check_token(token[:-2] + "xx").outcome == "invalid"


# --- Resending the link -------------------------------------------------------------------


def test_resending_sends_a_fresh_link_that_works(client, smtp_server):
    register(client)
    assert smtp_server.wait_for(1)

    response = client.post(reverse("resend-verification"), {"email": "NEWBIE@example.com"})

    assert response.status_code == 200
    assert smtp_server.wait_for(2)
    assert client.post(verification_path(smtp_server.messages[1])).status_code == 200
    assert User.objects.get(email="newbie@example.com").email_verified_at is not None


def test_resending_is_limited_to_one_e_mail_a_minute(client, smtp_server):
    register(client)
    client.post(reverse("resend-verification"), {"email": "newbie@example.com"})
    client.post(reverse("resend-verification"), {"email": "newbie@example.com"})
    assert smtp_server.wait_for(2)
    assert not smtp_server.wait_for(3, timeout=0.5)


def test_resending_says_the_same_for_unknown_and_verified_addresses(client, smtp_server, alice):
    unknown = client.post(reverse("resend-verification"), {"email": "nobody@example.com"})
    verified = client.post(reverse("resend-verification"), {"email": alice.email})
    assert unknown.status_code == verified.status_code == 200
    assert not smtp_server.wait_for(1, timeout=0.5)


def test_resending_rejects_a_malformed_address(client):
    response = client.post(reverse("resend-verification"), {"email": "not an address"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()


# --- Bad input ----------------------------------------------------------------------------


def test_a_taken_address_gets_the_same_answer_and_its_owner_a_mail(client, smtp_server, alice):
    """Registration does not reveal who has an account: same page, same status; the owner is told."""
    fresh = register(client, email="fresh@example.com")
    taken = register(Client(), email="ALICE@Example.COM")

    assert taken.status_code == fresh.status_code == 302
    assert taken["Location"] == fresh["Location"] == reverse("register-done")
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    assert smtp_server.wait_for(2)
    to_alice = next(m for m in smtp_server.messages if m.rcpt_tos == ["alice@example.com"])
    assert to_alice.message["Subject"] == "Someone tried to register with your address"
    assert link_in(to_alice, "/accounts/login/") and link_in(to_alice, "/accounts/password-reset/")
    assert "/accounts/verify/" not in text_of(to_alice)


def test_the_pages_after_registering_are_the_same_for_a_taken_address(smtp_server, alice):
    fresh_client, taken_client = Client(), Client()
    register(fresh_client, email="fresh@example.com")
    register(taken_client, email="alice@example.com")
    fresh_page = fresh_client.get(reverse("register-done")).content.decode()
    taken_page = taken_client.get(reverse("register-done")).content.decode()
    strip = lambda page: re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)  # noqa: E731
    assert strip(fresh_page).replace("fresh@example.com", "ADDRESS") == strip(taken_page).replace(
        "alice@example.com", "ADDRESS"
    )


def test_repeated_attempts_on_a_taken_address_mail_the_owner_once_a_minute(client, smtp_server, alice):
    register(client, email="alice@example.com")
    register(client, email="alice@example.com")
    assert smtp_server.wait_for(1)
    assert not smtp_server.wait_for(2, timeout=0.5)


@pytest.mark.parametrize("password", ["123", "password", "12345678901", "newbie@example.com"])
def test_registration_refuses_a_weak_password(client, password):
    response = register(client, password=password)
    assert response.status_code == 200
    assert not User.objects.filter(email="newbie@example.com").exists()


def test_registration_refuses_mismatched_passwords(client):
    response = client.post(
        reverse("register"),
        {"email": "n@example.com", "full_name": "N", "password1": STRONG_PASSWORD, "password2": "x"},
    )
    assert response.status_code == 200
    assert not User.objects.filter(email="n@example.com").exists()


def test_registration_refuses_an_overlong_name_and_address(client):
    response = register(client, full_name="Я" * 151)
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    response = register(client, email="a" * 250 + "@example.com")
    assert response.status_code == 200
    assert User.objects.count() == 0


def test_registration_survives_garbage(client):
    response = client.post(reverse("register"), {"email": "\x00", "password1": ["a", "b"]})
    assert response.status_code == 200


def test_registration_still_answers_when_the_mail_server_is_down(client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    response = register(client)
    assert response.status_code == 302
    assert "unsent=1" in response["Location"]
    assert reverse("resend-verification") in client.get(response["Location"]).content.decode()


# --- Logging in and out -------------------------------------------------------------------


def test_the_login_page_sends_users_to_the_admin(client, alice):
    response = login(client, "Alice@Example.com", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_a_blocked_user_is_told_so_at_login(client, alice, manager):
    accounts_service.block_user(user=alice, actor=manager)
    response = login(client, alice.email, PASSWORD)
    assert response.status_code == 200
    assert "blocked" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_of_a_blocked_user_reveals_nothing(client, alice, manager):
    accounts_service.block_user(user=alice, actor=manager)
    response = login(client, alice.email, "wrong")
    assert "blocked" not in response.content.decode()


def test_repeated_failed_logins_are_throttled_with_a_clear_message(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, alice.email, "wrong")

    response = login(client, alice.email, PASSWORD)

    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed attempts" in page
    assert "_auth_user_id" not in client.session


def test_logging_out_ends_the_session(client, alice):
    client.force_login(alice)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


# --- Password reset -----------------------------------------------------------------------


def test_a_password_is_reset_by_e_mail(client, smtp_server, alice):
    response = client.post(reverse("password_reset"), {"email": "ALICE@example.com"})
    assert response.status_code == 302
    assert smtp_server.wait_for(1)
    link = link_in(smtp_server.messages[0], "/accounts/password-reset/")
    path = re.sub(r"^https?://[^/]+", "", link)

    form_page = client.get(path, follow=True)
    new_password = "Velvet-Harbor-93-Quartz"
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
    )

    assert response.status_code == 302
    assert login(client, alice.email, new_password).status_code == 302


def test_a_blocked_user_gets_no_password_reset_e_mail(client, smtp_server, alice, manager):
    accounts_service.block_user(user=alice, actor=manager)
    response = client.post(reverse("password_reset"), {"email": alice.email})
    assert response.status_code == 302
    assert not smtp_server.wait_for(1, timeout=0.5)


def test_a_used_password_reset_link_explains_itself(client):
    response = client.get(
        reverse("password_reset_confirm", kwargs={"uidb64": "MQ", "token": "bad-token"})
    )
    assert response.status_code == 200
    assert reverse("password_reset") in response.content.decode()


def test_account_pages_render(client):
    for name in ["register", "resend-verification", "login", "password_reset", "password_reset_done", "password_reset_complete"]:
        assert client.get(reverse(name)).status_code == 200, name


def test_e_mail_links_point_at_the_public_site_address(client, smtp_server, settings, alice):
    settings.SITE_URL = "https://mail.example.com"
    register(client)
    client.post(reverse("password_reset"), {"email": alice.email})
    assert smtp_server.wait_for(2)
    assert link_in(smtp_server.messages[0], "/accounts/verify/").startswith("https://mail.example.com/")
    assert link_in(smtp_server.messages[1], "/accounts/password-reset/").startswith(
        "https://mail.example.com/"
    )


def test_the_verification_link_lasts_as_configured(client, smtp_server, settings):
    settings.EMAIL_VERIFICATION_MAX_AGE = int(timedelta(hours=5).total_seconds())
    register(client)
    assert smtp_server.wait_for(1)
    assert "5 hours" in text_of(smtp_server.messages[0])
