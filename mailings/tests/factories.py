"""Builders of clients, messages, mailings, runs and deliveries for every test suite.

``make_mailing`` is the one way to make a mailing in a test; ``make_attempt`` and
``add_deliveries`` leave behind, straight through the ORM, the rows the sending engine would.
"""
import datetime
import itertools
from collections import Counter

from django.utils import timezone

from mailings.models import (
    Attempt, AttemptKind, AttemptStatus, Client, Delivery, Mailing, Message,
)
from mailings.models import DeliveryStatus as S

_numbers = itertools.count(1)


# Fields the scheduler sets when a mailing is saved; a test that passes them wants its row
# exactly as given, so they are written after the save signal has run.
SCHEDULER_FIELDS = {"next_run_at", "status", "paused_until", "pause_reason"}


def make_mailing(owner, count=3, *, start_at=None, periodicity="once", end_at=None, body=None, subject=None,
                 domain="example.org", **extra):
    """A mailing of ``owner`` to ``count`` new clients c00000@domain, c00001@domain, …"""
    as_given = {field: extra.pop(field) for field in list(extra) if field in SCHEDULER_FIELDS}
    message = Message.objects.create(
        owner=owner,
        subject=subject or "Hello {{ full_name }}",
        body=body or "<p>Dear {{ full_name }}, this goes to {{ email }}.</p>",
    )
    mailing = Mailing.objects.create(
        owner=owner, message=message, start_at=start_at or timezone.now() - datetime.timedelta(minutes=1),
        periodicity=periodicity, end_at=end_at, **extra,
    )
    clients = Client.objects.bulk_create(
        Client(owner=owner, email=f"c{i:05d}@{domain}", full_name=f"Client {i}") for i in range(count)
    )
    mailing.clients.set(clients)
    if as_given:
        Mailing.objects.filter(pk=mailing.pk).update(**as_given)
        mailing.refresh_from_db()
    return mailing


def make_attempt(mailing, started_at, kind=AttemptKind.SCHEDULED, status=AttemptStatus.SUCCESS,
                 server_response="250 OK"):
    attempt = Attempt.objects.create(
        mailing=mailing, kind=kind, scheduled_for=started_at, status=status,
        server_response=server_response, finished_at=started_at,
    )
    # started_at is auto_now_add: put the run where the test wants it.
    Attempt.objects.filter(pk=attempt.pk).update(started_at=started_at)
    attempt.started_at = started_at
    return attempt


def add_deliveries(attempt, status, count, sent_at=None, smtp_code=None, smtp_response=""):
    """``count`` deliveries of ``attempt`` with one status, each to a new client."""
    owner = attempt.mailing.owner
    numbers = [next(_numbers) for _ in range(count)]
    clients = Client.objects.bulk_create(
        Client(owner=owner, email=f"r{number}@example.org") for number in numbers
    )
    return Delivery.objects.bulk_create(
        Delivery(
            attempt=attempt, client=client, email=client.email, status=status, sent_at=sent_at,
            smtp_code=smtp_code, smtp_response=smtp_response, tries=1,
        )
        for client in clients
    )


def direct_counts(deliveries):
    """The reference: sent / failed / unknown counted row by row in Python (a bounced or
    complained message was accepted by the receiving server first: it counts as sent)."""
    statuses = Counter(delivery.status for delivery in deliveries)
    sent = statuses["sent"] + statuses["bounced"] + statuses["complained"]
    failed = statuses["failed"] + statuses["deferred"]
    decided = sent + failed
    return {
        "sent": sent,
        "failed": failed,
        "unknown": statuses["unknown"],
        "rate": round(100 * sent / decided, 1) if decided else None,
    }


def make_outcomes(alice, bob):
    """Alice and Bob's mailings with sent, failed, deferred, unknown, skipped and pending rows.

    Also: a run 40 days ago (outside the dashboard's 30 days), a test send (never counted),
    a failure without a time (counted on its run's day), a paused mailing. The mailings have
    no clients of their own: each delivery brings its own.
    """
    now = timezone.now()
    two_days_ago, yesterday = now - datetime.timedelta(days=2), now - datetime.timedelta(days=1)
    newsletter = make_mailing(alice, 0, subject="Alice newsletter", next_run_at=now + datetime.timedelta(hours=3))
    recent = make_attempt(newsletter, two_days_ago, status=AttemptStatus.FAILURE,
                          server_response="2 of 11 refused")
    add_deliveries(recent, S.SENT, 5, sent_at=two_days_ago)
    add_deliveries(recent, S.FAILED, 2, sent_at=two_days_ago, smtp_code=550,
                   smtp_response="5.1.1 User unknown")
    add_deliveries(recent, S.DEFERRED, 1, sent_at=two_days_ago, smtp_code=421,
                   smtp_response="4.7.0 Try again later")
    add_deliveries(recent, S.UNKNOWN, 1)
    add_deliveries(recent, S.SKIPPED, 1)
    add_deliveries(recent, S.PENDING, 1)
    old = make_attempt(newsletter, now - datetime.timedelta(days=40))
    add_deliveries(old, S.SENT, 3, sent_at=now - datetime.timedelta(days=40))
    test_send = make_attempt(newsletter, now, kind=AttemptKind.TEST)
    add_deliveries(test_send, S.SENT, 2, sent_at=now)
    untimed = make_attempt(newsletter, yesterday, kind=AttemptKind.RETRY,
                           status=AttemptStatus.FAILURE, server_response="=cmd|' /C calc'!A0")
    add_deliveries(untimed, S.FAILED, 1, smtp_code=554, smtp_response="=HYPERLINK(\"http://x\")")

    paused = make_mailing(alice, 0, subject="Alice paused", next_run_at=None,
                          paused_until=now + datetime.timedelta(minutes=20),
                          pause_reason="Connection refused three times")

    bobs = make_mailing(bob, 0, subject="Bob offers", next_run_at=now + datetime.timedelta(days=1))
    bob_run = make_attempt(bobs, now - datetime.timedelta(hours=1))
    add_deliveries(bob_run, S.SENT, 4, sent_at=now)
    add_deliveries(bob_run, S.FAILED, 3, sent_at=now, smtp_code=550, smtp_response="Bob's bounce")
    add_deliveries(bob_run, S.UNKNOWN, 2)
    return {
        "newsletter": newsletter, "paused": paused, "bobs": bobs,
        "recent": recent, "old": old, "test_send": test_send, "untimed": untimed, "bob_run": bob_run,
    }
