"""Public subscription to a list, double opt-in: the form under bad input and bots, the
confirmation link (GET asks, POST confirms, once, expiring), the recorded consent."""
import pytest
from django.core import mail, signing
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from mailings import audience, subscriptions
from mailings.models import Client, ClientList, Subscription, Suppression, SuppressionReason

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def inline_mail(settings):
    """Mail sent at once into Django's outbox (the queue's worker side is the same function)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.MAIL_TRANSPORT_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SUBSCRIPTION_MIN_FILL_SECONDS = 3


@pytest.fixture
def news(alice):
    return ClientList.objects.create(owner=alice, name="News", subscription_enabled=True)


def form_url(client_list):
    return reverse("subscribe", args=[client_list.subscription_token])


def post(client_list, ip="203.0.113.5", stamp_age=10, **fields):
    data = {"email": "ann@example.org", "full_name": "Ann", "website": "",
            "stamp": subscriptions.form_stamp(__import__("time").time() - stamp_age), **fields}
    return HttpClient(REMOTE_ADDR=ip).post(form_url(client_list), data)


def confirm_link():
    (message,) = mail.outbox
    return next(word for word in message.body.split() if "/subscribe/confirm/" in word)


def test_the_form_is_public_and_in_russian_by_default(news):
    response = HttpClient().get(form_url(news))

    assert response.status_code == 200
    assert "Подписаться" in response.content.decode()


def test_a_disabled_or_unknown_form_is_not_found(alice):
    hidden = ClientList.objects.create(owner=alice, name="Hidden")
    assert HttpClient().get(form_url(hidden)).status_code == 404
    assert HttpClient().get(reverse("subscribe", args=["nope"])).status_code == 404


def test_a_request_mails_a_link_and_mails_nothing_else_until_confirmed(news, alice):
    response = post(news)

    assert response.status_code == 200
    assert Subscription.objects.get().confirmed_at is None
    assert not Client.objects.filter(owner=alice).exists()  # unconfirmed: not a client, never mailed
    assert "/subscribe/confirm/" in confirm_link()


def test_the_link_asks_on_get_and_confirms_only_on_post_once(news, alice):
    post(news)
    path = confirm_link().split("127.0.0.1:8000", 1)[-1].split("testserver", 1)[-1]
    path = path[path.index("/subscribe/"):]

    assert HttpClient().get(path).status_code == 200  # a link scanner opens it
    assert not Client.objects.filter(owner=alice).exists()

    response = HttpClient(REMOTE_ADDR="198.51.100.7").post(path)

    assert response.status_code == 200
    ann = Client.objects.get(owner=alice, email="ann@example.org")
    assert list(ann.lists.all()) == [news]
    consent = Subscription.objects.get()
    assert consent.confirmed_at is not None and consent.confirmed_ip == "198.51.100.7"
    assert consent.requested_ip == "203.0.113.5" and consent.form_token == news.subscription_token
    assert consent.client == ann

    again = HttpClient().post(path)
    assert "already confirmed" in again.content.decode() or "уже подтверждена" in again.content.decode()
    assert Subscription.objects.filter(confirmed_at__isnull=False).count() == 1


def test_an_expired_or_forged_link_does_nothing(news, alice, settings):
    post(news)
    token = confirm_link().rstrip("/").rsplit("/", 1)[-1]
    settings.SUBSCRIPTION_CONFIRM_MAX_AGE = -1

    assert HttpClient().post(reverse("subscribe-confirm", args=[token])).status_code == 404
    settings.SUBSCRIPTION_CONFIRM_MAX_AGE = 3600
    assert HttpClient().post(reverse("subscribe-confirm", args=[token + "x"])).status_code == 404
    assert not Client.objects.filter(owner=alice).exists()


def test_resubscribing_after_an_unsubscribe_needs_a_new_confirmation(news, alice):
    ann = Client.objects.create(owner=alice, email="ann@example.org", unsubscribed_at=timezone.now())
    audience.suppress(alice.pk, ann.email, SuppressionReason.UNSUBSCRIBED)

    post(news)
    ann.refresh_from_db()
    assert ann.unsubscribed_at is not None  # asking is not enough
    assert Suppression.objects.filter(owner=alice).exists()

    token = confirm_link().rstrip("/").rsplit("/", 1)[-1]
    HttpClient().post(reverse("subscribe-confirm", args=[token]))

    ann.refresh_from_db()
    assert ann.unsubscribed_at is None
    assert not Suppression.objects.filter(owner=alice).exists()


def test_the_confirmation_task_carries_no_link(news, settings, monkeypatch):
    settings.EMAIL_BACKEND = "lib.mail_backend.QueuedEmailBackend"
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: queued.append((args, kwargs)))

    with __import__("django.test", fromlist=["TestCase"]).TestCase.captureOnCommitCallbacks(execute=True):
        post(news)

    ((args, kwargs),) = queued
    assert args == (subscriptions.DELIVER_TASK, Subscription.objects.get().pk, "ru")
    assert kwargs["save"] is False


@pytest.mark.parametrize("email", [
    "ann@example.org\x00", "ann\r\nBcc: x@example.org", "not-an-address", "a" * 300 + "@example.org", "",
])
def test_bad_addresses_are_refused_with_a_message(news, email):
    response = post(news, email=email)

    assert response.status_code == 400
    assert not Subscription.objects.exists() and not mail.outbox


@pytest.mark.parametrize("name", ["Ann\x00", "Ann\nBcc: x@example.org", "A" * 10_000])
def test_bad_names_are_refused(news, name):
    assert post(news, full_name=name).status_code == 400
    assert not Subscription.objects.exists()


def test_a_huge_body_is_refused_not_a_500(news):
    response = post(news, email="a" * 3_000_000)

    assert response.status_code == 400
    assert not Subscription.objects.exists()


def test_the_address_is_normalised_like_a_clients(news):
    post(news, email="  Ann@Example.ORG ")
    assert Subscription.objects.get().email == "ann@example.org"


def test_a_bot_filling_the_trap_is_told_ok_and_nothing_happens(news):
    response = post(news, website="http://spam.example")

    assert response.status_code == 200
    assert not Subscription.objects.exists() and not mail.outbox


def test_a_form_sent_too_fast_or_without_stamp_is_refused(news):
    assert post(news, stamp_age=0).status_code == 400
    assert post(news, stamp="forged").status_code == 400
    assert not Subscription.objects.exists()


def test_requests_are_limited_per_address_and_per_ip(news, settings):
    settings.SUBSCRIPTION_RATE_LIMITS = {"address": 2, "ip": 3}
    assert [post(news, ip="203.0.113.9").status_code for _ in range(3)] == [200, 200, 429]
    assert [post(news, ip="203.0.113.10", email=f"u{i}@example.org").status_code for i in range(4)] == [
        200, 200, 200, 429,
    ]


def test_the_form_needs_a_csrf_token(news):
    browser = HttpClient(enforce_csrf_checks=True)
    response = browser.post(form_url(news), {"email": "ann@example.org", "stamp": subscriptions.form_stamp(0)})

    assert response.status_code == 403
    assert not Subscription.objects.exists()


def test_signing_module_is_used_for_stamps():
    with pytest.raises(signing.BadSignature):
        signing.loads("x", salt=subscriptions.FORM_SALT)
