"""Builders of mailings, runs and deliveries for the statistics tests, straight through the ORM.

The sending engine is not used: these rows are what it would leave behind.
"""
import itertools
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from mailings.models import (
    Attempt, AttemptKind, AttemptStatus, Client, Delivery, Mailing, Message,
)
from mailings.models import DeliveryStatus as S

_numbers = itertools.count(1)


def make_mailing(owner, subject="Newsletter", **fields):
    message = Message.objects.create(owner=owner, subject=subject, body="<p>Hello</p>")
    fields.setdefault("start_at", timezone.now())
    # bulk_create: the rows exactly as given, not rescheduled by the save signal.
    return Mailing.objects.bulk_create([Mailing(owner=owner, message=message, **fields)])[0]


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
    """The reference: sent / failed / unknown counted row by row in Python."""
    statuses = Counter(delivery.status for delivery in deliveries)
    sent = statuses["sent"]
    failed = statuses["failed"] + statuses["deferred"]
    decided = sent + failed
    return {
        "sent": sent,
        "failed": failed,
        "unknown": statuses["unknown"],
        "rate": round(100 * sent / decided, 1) if decided else None,
    }


@pytest.fixture
def outcomes(alice, bob):
    """Alice and Bob's mailings with sent, failed, deferred, unknown, skipped and pending rows.

    Also: a run 40 days ago (outside the dashboard's 30 days), a test send (never counted),
    a failure without a time (counted on its run's day), a paused mailing.
    """
    now = timezone.now()
    two_days_ago, yesterday = now - timedelta(days=2), now - timedelta(days=1)
    newsletter = make_mailing(alice, "Alice newsletter", next_run_at=now + timedelta(hours=3))
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
    old = make_attempt(newsletter, now - timedelta(days=40))
    add_deliveries(old, S.SENT, 3, sent_at=now - timedelta(days=40))
    test_send = make_attempt(newsletter, now, kind=AttemptKind.TEST)
    add_deliveries(test_send, S.SENT, 2, sent_at=now)
    untimed = make_attempt(newsletter, yesterday, kind=AttemptKind.RETRY,
                           status=AttemptStatus.FAILURE, server_response="=cmd|' /C calc'!A0")
    add_deliveries(untimed, S.FAILED, 1, smtp_code=554, smtp_response="=HYPERLINK(\"http://x\")")

    paused = make_mailing(alice, "Alice paused", paused_until=now + timedelta(minutes=20),
                          pause_reason="Connection refused three times")

    bobs = make_mailing(bob, "Bob offers", next_run_at=now + timedelta(days=1))
    bob_run = make_attempt(bobs, now - timedelta(hours=1))
    add_deliveries(bob_run, S.SENT, 4, sent_at=now)
    add_deliveries(bob_run, S.FAILED, 3, sent_at=now, smtp_code=550, smtp_response="Bob's bounce")
    add_deliveries(bob_run, S.UNKNOWN, 2)
    return {
        "newsletter": newsletter, "paused": paused, "bobs": bobs,
        "recent": recent, "old": old, "test_send": test_send, "untimed": untimed, "bob_run": bob_run,
    }
