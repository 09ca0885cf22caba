"""Claiming a run: scheduled, extra (manual or retry), test, or taking over a resumable one.

A run is claimed by creating its ``Attempt``: the unique constraint on
(mailing, kind, scheduled_for) is what lets the admin button, the scheduler and several
workers race safely; whoever loses gets an IntegrityError and does nothing. The recipients
of a run are written as ``Delivery`` rows in the same transaction, so a claimed run always
knows whom it owes a message.
"""
import datetime
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from mailings import audience
from mailings.dispatch import resumable_attempts
from mailings.models import Attempt, AttemptKind, AttemptStatus, Delivery, DeliveryStatus, Mailing
from mailings.runs.state import COUNTERS, recount, save_settled_status, stop_reason
from mailings.schedule import next_run_after

logger = logging.getLogger(__name__)

# The recipients a retry sends to again: those the retried run did not reach.
RETRIED_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.DEFERRED, DeliveryStatus.PENDING)


def _create_attempt(mailing, kind, scheduled_for, now):
    """Insert the Attempt; None when someone else already holds this run."""
    try:
        with transaction.atomic():
            return Attempt.objects.create(
                mailing=mailing, kind=kind, scheduled_for=scheduled_for, heartbeat_at=now
            )
    except IntegrityError:
        return None


def _populate_from_mailing(attempt):
    attempt.recipients = audience.insert_recipients(attempt)
    attempt.save(update_fields=["recipients"])


def _populate_from_failures(attempt, previous):
    attempt.recipients = audience.insert_retried_recipients(attempt, previous, RETRIED_STATUSES)
    attempt.save(update_fields=["recipients"])


def claim_scheduled_run(*, mailing_id, now, expected=None):
    """Claim the mailing's next run; None when it is not due or someone else has it.

    ``expected`` is the run time the admin's "send now" saw: that run may start early, and
    only that one (a double click, or the scheduler firing too, finds it taken).
    """
    with transaction.atomic():
        mailing = Mailing.objects.select_for_update().filter(pk=mailing_id).first()
        if mailing is None or mailing.next_run_at is None:
            return None
        if expected is not None:
            if mailing.next_run_at != expected or stop_reason(mailing.pk):
                return None
        elif not Mailing.objects.due(now).filter(pk=mailing.pk).exists():
            return None
        attempt = _create_attempt(mailing, AttemptKind.SCHEDULED, mailing.next_run_at, now)
        if attempt is None:
            return None
        _populate_from_mailing(attempt)
        # Catch-up happens once: the next run is the first one after now, not after the
        # missed one.
        mailing.next_run_at = next_run_after(mailing, max(now, attempt.scheduled_for))
        save_settled_status(mailing, "next_run_at")
    logger.info("mailing %s: run %s claimed (attempt %s)", mailing_id, attempt.scheduled_for, attempt.pk)
    return attempt


def claim_extra_run(*, mailing_id, kind, scheduled_for, now, retried_id=None):
    """Claim a manual run (all clients) or a retry of a finished run's failed recipients.

    ``retried_id`` is the run a retry button named (see ``ButtonRun``); without it a retry
    takes the last finished run.
    """
    with transaction.atomic():
        mailing = Mailing.objects.filter(pk=mailing_id).first()
        if mailing is None or stop_reason(mailing_id):
            return None
        previous = None
        if kind == AttemptKind.RETRY:
            previous = _retried_run(mailing, retried_id)
            if previous is None:
                return None
        attempt = _create_attempt(mailing, kind, scheduled_for, now)
        if attempt is None:
            return None
        if previous is not None:
            _populate_from_failures(attempt, previous)
        else:
            _populate_from_mailing(attempt)
        save_settled_status(mailing)
    logger.info("mailing %s: %s run claimed (attempt %s)", mailing_id, kind, attempt.pk)
    return attempt


def claim_test_run(*, mailing_id, email, now):
    """A one-recipient run to the owner's own address; it never counts in statistics."""
    with transaction.atomic():
        mailing = Mailing.objects.filter(pk=mailing_id).first()
        if mailing is None:
            return None
        attempt = _create_attempt(mailing, AttemptKind.TEST, now, now)
        if attempt is None:
            return None
        Delivery.objects.create(attempt=attempt, client=None, email=email)
        attempt.recipients = 1
        attempt.save(update_fields=["recipients"])
    return attempt


def _retried_run(mailing, retried_id):
    if retried_id is None:
        return last_finished_run(mailing)
    return _finished_runs(mailing).filter(pk=retried_id).first()


def _finished_runs(mailing):
    return mailing.attempts.exclude(kind=AttemptKind.TEST).filter(
        status__in=[AttemptStatus.SUCCESS, AttemptStatus.FAILURE]
    )


def last_finished_run(mailing):
    return _finished_runs(mailing).order_by("-started_at", "-pk").first()


def claim_resume(*, attempt_id, now):
    """Take over a paused or dead run; None when it is not resumable or someone else took it.

    Rows a dead worker left in 'sending' were inside an SMTP transaction and may have reached
    the server: they become 'unknown' and are never sent again. Rows it had only claimed
    were never handed to SMTP: they go back to 'pending' (their tries unchanged), as do
    retriable temporary failures.
    """
    with transaction.atomic():
        if not resumable_attempts(now).filter(pk=attempt_id).exists():
            return None
        taken = Attempt.objects.filter(
            pk=attempt_id, status__in=[AttemptStatus.PAUSED, AttemptStatus.RUNNING]
        ).filter(
            Q(status=AttemptStatus.PAUSED)
            | Q(heartbeat_at__lt=now - datetime.timedelta(seconds=settings.MAILING_STALE_AFTER))
        ).update(status=AttemptStatus.RUNNING, heartbeat_at=now)
        if taken != 1:
            return None
        attempt = Attempt.objects.select_related("mailing").get(pk=attempt_id)
        lost = Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.UNKNOWN,
            smtp_response=_("The worker stopped while sending; the message may have been delivered."),
        )
        Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.CLAIMED).update(
            status=DeliveryStatus.PENDING, claim=""
        )
        Delivery.objects.filter(
            attempt=attempt, status=DeliveryStatus.DEFERRED, tries__lt=settings.MAILING_MAX_TRIES
        ).update(status=DeliveryStatus.PENDING)
        recount(attempt)  # a dead worker's counters lag its rows by up to one flush
        attempt.save(update_fields=COUNTERS)
        Mailing.objects.filter(pk=attempt.mailing_id).update(paused_until=None, pause_reason="")
    logger.info("attempt %s resumed (%s in-flight sends recorded as unknown)", attempt_id, lost)
    return attempt
