"""Account mail through the real task queue: ids at rest, links built by the worker, retries.

These tests use the project's default e-mail path (QueuedEmailBackend) and run the queue
with django-q2's own worker and monitor (``_sync``) on what the broker hands out.
"""
import re
import socket
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Schedule, Task
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage
from django_q.tasks import _sync

from backoffice.accounts import mail
from backoffice.tests.test_accounts import STRONG_PASSWORD, link_in, register, verification_path

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
User = get_user_model()
QUEUED = "lib.mail_backend.QueuedEmailBackend"


@pytest.fixture
def queued(settings, smtp_server, monkeypatch):
    """The production path: mail is queued; the worker sends to the real SMTP server.

    The worker runs in the test's process and transaction: django-q2 closes "old" database
    connections before each task, which would close the test's own (PostgreSQL) connection.
    """
    import django_q.monitor
    import django_q.scheduler
    import django_q.worker

    for module in (django_q.worker, django_q.monitor, django_q.scheduler):
        monkeypatch.setattr(module, "close_old_django_connections", lambda: None)
    settings.EMAIL_BACKEND = QUEUED
    settings.ACCOUNT_MAIL_RETRY_DELAY = 30
    settings.EMAIL_TIMEOUT = 2
    get_broker().purge_queue()
    yield smtp_server
    get_broker().purge_queue()


def run_queue():
    """Hand every queued task to django-q2's worker; returns the payloads as they sat queued."""
    broker, payloads = get_broker(), []
    while tasks := broker.dequeue():
        for ack_id, payload in tasks:
            payloads.append(payload)
            _sync(payload)
            broker.acknowledge(ack_id)
    return payloads


def everything_stored_by_the_queue(payloads):
    """Readable text of what sat in the queue and of every row django-q keeps."""
    texts = [repr(SignedPackage.loads(payload)) for payload in payloads]
    texts += [repr(SignedPackage.loads(row.payload)) for row in OrmQ.objects.all()]
    texts += [repr((t.name, t.func, t.args, t.kwargs, t.result)) for t in Task.objects.all()]
    texts += [repr((s.func, s.args, s.kwargs)) for s in mail_retries()]
    return "\n".join(texts)


def mail_retries():
    """The one-off schedules of account mail (the project has its own periodic schedules)."""
    return Schedule.objects.filter(func=mail.DELIVER_TASK)


def run_due_retries():
    """Let the retry delay pass; django-q2's scheduler queues the due tries; the worker runs them."""
    mail_retries().update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler(broker=get_broker())
    run_queue()


# --- Secrets at rest (issue #9, item 13) ------------------------------------------------------


def test_no_reset_link_or_token_sits_in_the_queue_tables(client, queued, alice):
    response = client.post(reverse("password_reset"), {"email": alice.email})
    assert response.status_code == 302
    assert queued.messages == []  # only queued so far

    payloads = run_queue()

    assert queued.wait_for(1)
    link = link_in(queued.messages[0], "/accounts/password-reset/")
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert len(payloads) == 1
    stored = everything_stored_by_the_queue(payloads)
    assert token not in stored and link not in stored
    assert "password-reset" in stored  # what was queued: the kind of mail and the user's id
    assert Task.objects.count() == 0  # a delivered mail leaves no row behind


def test_no_verification_link_sits_in_the_queue_tables(client, queued):
    register(client)
    payloads = run_queue()

    assert queued.wait_for(1)
    path = verification_path(queued.messages[0])
    stored = everything_stored_by_the_queue(payloads)
    assert path.split("/")[-2] not in stored
    assert client.post(path).status_code == 200


def test_a_mail_queued_through_the_backend_leaves_no_copy_once_delivered(queued, django_capture_on_commit_callbacks):
    from django.core.mail import send_mail

    with django_capture_on_commit_callbacks(execute=True):
        send_mail("Hello", "https://example.com/secret-link", None, ["dora@example.org"])
    run_queue()

    assert queued.wait_for(1)
    assert Task.objects.count() == 0


# --- Retries (item 18) --------------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["421", "refused"])
def test_a_temporary_smtp_failure_is_retried_then_delivered(client, queued, monkeypatch, outage):
    if outage == "421":
        queued.behaviour.connect_reply = "421 Service not available, try again later"
    else:
        queued.refuse_connections()
    register(client)

    run_queue()

    assert queued.messages == []
    retry = mail_retries().get()
    assert retry.next_run > timezone.now() + timedelta(seconds=20)  # backs off
    assert Failure.objects.count() == 0

    if outage == "421":
        queued.reset()
    else:
        queued.accept_connections()
    run_due_retries()

    assert queued.wait_for(1)
    assert queued.messages[0].rcpt_tos == ["newbie@example.com"]
    assert mail_retries().count() == 0
    assert client.post(verification_path(queued.messages[0])).status_code == 200


def test_retries_back_off_and_stop_after_the_last_try(client, queued, monkeypatch, settings):
    settings.ACCOUNT_MAIL_MAX_TRIES = 3
    queued.behaviour.connect_reply = "421 Try later"
    client.post(reverse("password_reset"), {"email": "nobody@example.com"})  # nothing queued
    User.objects.create_user(email="carol@example.com", password=STRONG_PASSWORD, email_verified_at=timezone.now())
    client.post(reverse("password_reset"), {"email": "carol@example.com"})
    run_queue()
    delays = []
    for _ in range(settings.ACCOUNT_MAIL_MAX_TRIES - 1):
        retry = mail_retries().get()
        delays.append(round((retry.next_run - timezone.now()).total_seconds() / 10) * 10)
        run_due_retries()

    assert delays == [30, 60]
    assert mail_retries().count() == 0
    failure = Failure.objects.get()  # the last try is a failed task, holding ids only
    assert failure.args[:2] == (mail.PASSWORD_RESET, User.objects.get(email="carol@example.com").pk)
    assert queued.messages == []


def test_a_permanent_refusal_is_not_retried(client, queued):
    queued.behaviour.reject_rcpt = {"newbie@example.com": "550 No such user"}
    register(client)

    run_queue()

    assert mail_retries().count() == 0
    assert Failure.objects.count() == 1
    assert queued.messages == []


# --- The queue or cache is down (item 12) -------------------------------------------------------


def dead_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed on exit: connections are refused


@pytest.fixture
def redis_down(settings, monkeypatch, smtp_server):
    """Cache and queue broker on a Redis address where nothing listens (a real refusal)."""
    settings.EMAIL_BACKEND = QUEUED
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{dead_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        },
    }
    monkeypatch.setattr(Conf, "BROKER_CLASS", "mailings.queue_broker.RedisBroker")
    monkeypatch.setattr(Conf, "DJANGO_REDIS", "default")


def test_registration_with_redis_down_leaves_nothing_and_says_so(client, redis_down):
    response = register(client)

    assert response.status_code == 503
    assert "Nothing was saved; please try again in a few minutes." in response.content.decode()
    assert not User.objects.filter(email="newbie@example.com").exists()


def test_registration_of_a_taken_address_with_redis_down_answers_the_same(client, alice, redis_down):
    response = register(client, email=alice.email)
    assert response.status_code == 503
    assert "Nothing was saved" in response.content.decode()


@pytest.fixture
def unverified(django_user_model):
    return django_user_model.objects.create_user(email="newbie@example.com", password=STRONG_PASSWORD)


def test_resending_and_password_reset_with_redis_down_say_so(client, alice, unverified, redis_down):
    resend = client.post(reverse("resend-verification"), {"email": "newbie@example.com"})
    reset = client.post(reverse("password_reset"), {"email": alice.email})

    assert resend.status_code == reset.status_code == 503
    assert "Nothing was saved" in resend.content.decode()
    assert "Nothing was saved" in reset.content.decode()


def test_the_link_is_built_when_the_worker_sends(client, queued, settings):
    """A link made at send time: a SITE_URL changed after queueing is the one in the mail."""
    register(client)
    settings.SITE_URL = "https://mail.example.com"
    run_queue()
    assert queued.wait_for(1)
    assert re.search(r"https://mail\.example\.com/accounts/verify/", queued.messages[0].message.get_body(("plain",)).get_content())
