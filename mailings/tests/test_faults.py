"""A broken mail server, mode by mode, against the real loopback SMTP server.

For each misbehaviour: the worker comes back (no hang), the Attempt records the failure in
the server's (or the network's) own words, a later pass delivers what was left, and no
recipient gets two copies. While the worker waits on a slow server, web pages answer.
"""
import datetime
import threading
from collections import Counter

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from mailings import dispatch, services
from mailings.delivery import loop
from mailings.models import Attempt, AttemptStatus, Delivery, DeliveryStatus
from mailings.runs import claim
from mailings.tests.factories import make_mailing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("english")]


RECIPIENTS = 5
HANG = 60  # seconds: far beyond any bounded failure path; reaching it means the worker hung


@pytest.fixture
def owner(django_user_model):
    from django.utils import timezone as tz

    return django_user_model.objects.create_user(
        email="olga@example.com", password="x-long-password-1", full_name="Olga",
        is_staff=True, is_superuser=True, email_verified_at=tz.now(),
    )


@pytest.fixture
def faulty(settings, smtp_server):
    settings.EMAIL_TIMEOUT = 1
    settings.MAILING_CONNECT_BACKOFF = 0
    settings.MAILING_CONNECT_RETRIES = 3
    settings.MAILING_BATCH_SIZE = 50
    return smtp_server


def start_run(owner):
    mailing = make_mailing(owner, RECIPIENTS)
    services.mailing_saved(mailing=mailing)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now())
    return mailing, attempt


def deliver_in_background(attempt):
    def work():
        try:
            loop.deliver(attempt)
        finally:
            connection.close()  # the thread's own connection; left open it blocks dropping the test DB

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def finish_later(mailing, attempt):
    """The later pass: the dispatcher resumes the paused run once its pause is over."""
    mailing.refresh_from_db()
    assert mailing.paused_until is not None
    resumed = claim.claim_resume(attempt_id=attempt.pk, now=mailing.paused_until)
    assert resumed is not None
    return loop.deliver(resumed)


def assert_everyone_once(server, allowed_missing=()):
    counts = Counter(server.recipients())
    assert all(n == 1 for n in counts.values()), f"duplicates: {counts}"
    expected = {f"c{i:05d}@example.org" for i in range(RECIPIENTS)} - set(allowed_missing)
    assert set(counts) == expected


def run_and_check_pages(client, owner, mailing, attempt, server):
    """Deliver in a worker thread; while it waits on the server, pages answer."""
    before = server.connections
    worker = deliver_in_background(attempt)
    while server.connections == before and worker.is_alive():
        worker.join(0.01)
    client.force_login(owner, backend="backoffice.backends.EmailBackend")
    health = client.get("/health/")
    page = client.get(reverse("admin:mailings_mailing_change", args=[mailing.pk]))
    still_waiting = worker.is_alive()
    worker.join(HANG)
    assert not worker.is_alive(), "the worker hung"
    assert health.status_code == 200 and page.status_code == 200
    assert still_waiting, "the pages were answered while the worker was still waiting on SMTP"


@pytest.mark.parametrize("mode", ["greeting", "refused", "421"])
def test_a_server_that_cannot_be_reached_pauses_the_run_which_resumes_later(client, owner, faulty, mode, settings):
    mailing, attempt = start_run(owner)
    if mode == "greeting":
        # Three 3-second timeouts: a window wide enough for the page requests on a busy machine.
        settings.EMAIL_TIMEOUT = 3
        faulty.behaviour.greeting_delay = 5
    elif mode == "refused":
        faulty.refuse_connections()
    else:
        faulty.behaviour.connect_reply = "421 4.3.2 Service not available, closing channel"

    if mode == "greeting":
        run_and_check_pages(client, owner, mailing, attempt, faulty)
    else:
        worker = deliver_in_background(attempt)
        worker.join(HANG)
        assert not worker.is_alive(), "the worker hung"

    attempt.refresh_from_db()
    words = {"greeting": "Timed out during connect", "refused": "Connection refused",
             "421": "421 4.3.2 Service not available, closing channel"}[mode]
    assert attempt.status == AttemptStatus.PAUSED
    assert words in attempt.server_response
    assert "250" not in attempt.server_response
    mailing.refresh_from_db()
    assert words in mailing.pause_reason
    assert Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.PENDING).count() == RECIPIENTS

    if mode == "refused":
        faulty.accept_connections()
    faulty.behaviour = type(faulty.behaviour)()
    attempt = finish_later(mailing, attempt)

    assert attempt.status == AttemptStatus.SUCCESS and attempt.sent == RECIPIENTS
    assert_everyone_once(faulty)


@pytest.mark.parametrize("mode", ["garbage", "drop"])
def test_a_server_that_breaks_after_the_data_leaves_unknown_and_never_resends(owner, faulty, mode):
    """After the final dot only a clear reply counts: garbage or a drop may hide a stored
    message, so the row is 'unknown' and never sent again."""
    mailing, attempt = start_run(owner)
    if mode == "garbage":
        faulty.behaviour.garbage = True
    else:
        faulty.behaviour.drop_during_data = True

    worker = deliver_in_background(attempt)
    worker.join(HANG)
    assert not worker.is_alive(), "the worker hung"

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PAUSED
    words = "Unclear reply after the message was sent" if mode == "garbage" else "broke after the message was sent"
    assert words in attempt.server_response
    unknown = Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.UNKNOWN)
    assert unknown.count() == 3  # three in a row, then the pause
    assert all(words in reply for reply in unknown.values_list("smtp_response", flat=True))
    assert faulty.messages == []

    faulty.behaviour = type(faulty.behaviour)()
    attempt = finish_later(mailing, attempt)

    assert (attempt.status, attempt.sent, attempt.unknown) == (AttemptStatus.FAILURE, RECIPIENTS - 3, 3)
    assert_everyone_once(faulty, allowed_missing=set(unknown.values_list("email", flat=True)))


def test_chosen_recipients_refused_with_550_are_failed_and_a_retry_delivers_them(owner, faulty):
    mailing, attempt = start_run(owner)
    faulty.behaviour.reject_rcpt = {
        "c00001@example.org": "550 5.1.1 User unknown",
        "c00003@example.org": "550 5.7.1 Rejected by policy",
    }

    worker = deliver_in_background(attempt)
    worker.join(HANG)
    assert not worker.is_alive(), "the worker hung"

    attempt.refresh_from_db()
    assert (attempt.status, attempt.sent, attempt.failed) == (AttemptStatus.FAILURE, 3, 2)
    assert "550 5.1.1 User unknown" in attempt.server_response
    assert "550 5.7.1 Rejected by policy" in attempt.server_response
    failed = Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.FAILED)
    assert set(failed.values_list("smtp_code", "tries")) == {(550, 1)}  # not retried

    faulty.behaviour = type(faulty.behaviour)()
    at = timezone.now()
    retry = claim.claim_extra_run(mailing_id=mailing.pk, kind="retry", scheduled_for=at, now=at)
    retry = loop.deliver(retry)

    assert (retry.recipients, retry.sent) == (2, 2)
    assert_everyone_once(faulty)


def test_a_server_slow_to_accept_the_data_leaves_unknown_and_never_a_duplicate(client, owner, faulty, settings):
    """A timeout after the final dot may hide an accepted message: 'unknown', never resent."""
    mailing, attempt = start_run(owner)
    settings.EMAIL_TIMEOUT = 3
    faulty.behaviour.delay = 4  # the server accepts, but answers only after the client gave up

    run_and_check_pages(client, owner, mailing, attempt, faulty)

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PAUSED
    assert "after the message was sent" in attempt.server_response
    unknown = set(Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.UNKNOWN).values_list("email", flat=True))
    assert len(unknown) == 3

    faulty.behaviour = type(faulty.behaviour)()
    attempt = finish_later(mailing, attempt)
    faulty.wait_for(RECIPIENTS)  # the slow server's late acceptances land too

    assert (attempt.sent, attempt.unknown, attempt.status) == (2, 3, AttemptStatus.FAILURE)
    assert_everyone_once(faulty)  # the late copies are the only copies


def test_a_paused_run_is_picked_up_by_the_dispatcher_after_the_pause(owner, faulty):
    mailing, attempt = start_run(owner)
    faulty.refuse_connections()
    loop.deliver(attempt)
    mailing.refresh_from_db()
    queued = []

    dispatch.dispatch(now=mailing.paused_until - datetime.timedelta(seconds=1),
                        enqueue_run=queued.append, enqueue_resume=queued.append)
    assert queued == []
    dispatch.dispatch(now=mailing.paused_until, enqueue_run=queued.append, enqueue_resume=queued.append)
    assert queued == [attempt.pk]
    faulty.accept_connections()
    assert Attempt.objects.get(pk=attempt.pk).status == AttemptStatus.PAUSED
