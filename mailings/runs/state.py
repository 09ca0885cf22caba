"""A claimed run's states after its claim: stopped, paused, handed over, finished.

The statuses are decided here only: ``settle_mailing_status`` gives the mailing's
created -> running -> completed status, ``final_status`` an ended run's success or failure.
"""
import logging
from collections import Counter

from django.db import transaction
from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mailings import dispatch
from mailings.models import Attempt, AttemptKind, AttemptStatus, Delivery, DeliveryStatus, Mailing, MailingStatus
from mailings.signals import figures_changed

logger = logging.getLogger(__name__)


STOP_REASONS = {
    Mailing.DISABLED: gettext_lazy("the mailing was disabled"),
    Mailing.PAUSED: gettext_lazy("the mailing was paused"),
    Mailing.OWNER_BLOCKED: gettext_lazy("the owner is blocked"),
}


def stop_reason(mailing_id):
    """Why a run of this mailing must stop now (``Mailing.hold``: one of its holds that stop a
    going run), or "" when it may go on (one query)."""
    mailing = (
        Mailing.objects.filter(pk=mailing_id).select_related("owner")
        .only("is_enabled", "paused_at", "status", "next_run_at", "owner__is_active")
        .first()
    )
    if mailing is None:
        return _("the mailing was deleted")
    reason = STOP_REASONS.get(mailing.hold())
    return str(reason) if reason else ""


# --- Statuses -----------------------------------------------------------------------------


def _has_open_attempt(mailing):
    return mailing.attempts.filter(
        status__in=[AttemptStatus.RUNNING, AttemptStatus.PAUSED]
    ).exclude(kind=AttemptKind.TEST).exists()


def settle_mailing_status(mailing):
    """The mailing's status from its runs and its ``next_run_at`` (set before calling).

    Running while a run is open; completed when no run is open and none is left; a completed
    mailing given a next run again is running (created if it never ran). Otherwise the
    status stays. Test runs never count.
    """
    if _has_open_attempt(mailing):
        return MailingStatus.RUNNING
    if mailing.next_run_at is None:
        return MailingStatus.COMPLETED
    if mailing.status == MailingStatus.COMPLETED:
        has_runs = mailing.attempts.exclude(kind=AttemptKind.TEST).exists()
        return MailingStatus.RUNNING if has_runs else MailingStatus.CREATED
    return mailing.status


def save_settled_status(mailing, *fields):
    """Settle the mailing's status and save it with ``fields``."""
    mailing.status = settle_mailing_status(mailing)
    mailing.save(update_fields=[*fields, "status", "updated_at"])


def final_status(counts):
    """An ended run's status from its rows' counts by status: success when every recipient
    was sent or skipped."""
    ok = not any(counts.get(status) for status in (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN,
                                                   DeliveryStatus.PENDING))
    return AttemptStatus.SUCCESS if ok else AttemptStatus.FAILURE


# --- Pause, hand-over, finish ---------------------------------------------------------------


def pause_run(*, attempt, until, reason, response):
    """Stop a run for now; the dispatcher continues it after ``until``."""
    with transaction.atomic():
        Attempt.objects.filter(pk=attempt.pk).update(
            status=AttemptStatus.PAUSED, server_response=response[:2000]
        )
        Mailing.objects.filter(pk=attempt.mailing_id).update(
            paused_until=until, pause_reason=reason[:2000]
        )
    attempt.status = AttemptStatus.PAUSED
    attempt.server_response = response[:2000]
    _invalidate_caches(attempt.mailing_id)


def hold_start(*, mailing_id, until, reason):
    """A run may not start now (checked before its claim): the mailing waits until ``until``
    (the dispatcher tries a scheduled run again then; a manual run is not queued again, its
    button is pressed again) with the reason on its page. A longer pause already
    there (a server's, of a paused run) stays as it is: this one must not bring it forward."""
    Mailing.objects.filter(Q(paused_until__isnull=True) | Q(paused_until__lt=until), pk=mailing_id).update(
        paused_until=until, pause_reason=(_("Not started: %(reason)s") % {"reason": reason})[:2000])
    logger.info("mailing %s: run not started: %s", mailing_id, reason)


def hand_over(attempt):
    """Close to the task time limit: continue in a fresh task instead of being killed
    mid-batch (which would leave a batch 'unknown')."""
    Attempt.objects.filter(pk=attempt.pk, status=AttemptStatus.RUNNING).update(status=AttemptStatus.PAUSED)
    attempt_id = attempt.pk
    transaction.on_commit(lambda: dispatch.enqueue("mailings.tasks.resume_attempt", attempt_id))
    attempt.status = AttemptStatus.PAUSED
    logger.info("attempt %s: handed over to a new task before the time limit", attempt_id)
    return attempt


COUNTERS = ["sent", "failed", "unknown"]  # the attempt's fields ``recount`` sets


def recount(attempt):
    """Set the attempt's counters (COUNTERS, unsaved) from its rows, the truth; the counts by
    status. The counters a worker writes as it goes lag the rows by up to one flush."""
    counts = dict(
        Delivery.objects.filter(attempt=attempt).values_list("status").annotate(n=Count("pk")).order_by()
    )
    attempt.sent = counts.get(DeliveryStatus.SENT, 0)
    attempt.failed = counts.get(DeliveryStatus.FAILED, 0)
    attempt.unknown = counts.get(DeliveryStatus.UNKNOWN, 0)
    return counts


def describe(headline, last_reply, failures):
    """The Attempt's server response: what happened, and the server's own words."""
    lines = [headline] if headline else []
    if last_reply:
        lines.append(_("Last accepted: %(reply)s") % {"reply": last_reply.strip()})
    for reply, count in failures.most_common(5):
        lines.append(f"{reply.strip()} (×{count})")
    return "\n".join(lines)[:2000]


def finish(attempt, *, now, last_reply="", failures=None):
    """Close the run with counts recomputed from its Delivery rows (the truth); the mailing
    is completed when no run is left to do."""
    failures = failures or Counter()
    with transaction.atomic():
        Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.DEFERRED).update(
            status=DeliveryStatus.FAILED
        )
        counts = recount(attempt)
        attempt.recipients = sum(counts.values())
        attempt.status = final_status(counts)
        headline = _("Sent %(sent)s of %(total)s; failed %(failed)s; unknown %(unknown)s; skipped %(skipped)s.") % {
            "sent": attempt.sent, "total": attempt.recipients, "failed": attempt.failed,
            "unknown": attempt.unknown, "skipped": counts.get(DeliveryStatus.SKIPPED, 0),
        }
        if not last_reply and not failures:
            last_reply, failures = _replies_from_rows(attempt)
        attempt.server_response = describe(headline, last_reply, failures)
        attempt.finished_at = now
        attempt.heartbeat_at = now
        attempt.save(update_fields=[
            "sent", "failed", "unknown", "recipients", "status", "server_response", "finished_at", "heartbeat_at",
        ])
    if attempt.kind != AttemptKind.TEST:
        save_settled_status(Mailing.objects.get(pk=attempt.mailing_id))
    _invalidate_caches(attempt.mailing_id)
    logger.info("attempt %s finished: %s", attempt.pk, headline)
    return attempt


def _replies_from_rows(attempt):
    """Server words from stored rows, for a run resumed by a worker that saw none itself."""
    rows = Delivery.objects.filter(attempt=attempt)
    last = rows.filter(status=DeliveryStatus.SENT).order_by("-sent_at").values_list("smtp_code", "smtp_response").first()
    failures = Counter()
    failed = rows.exclude(status__in=[DeliveryStatus.SENT, DeliveryStatus.SKIPPED, DeliveryStatus.PENDING])
    for code, reply, n in failed.values_list("smtp_code", "smtp_response").annotate(n=Count("pk"))[:5]:
        failures[f"{code} {reply}" if code else reply] += n
    return (f"{last[0]} {last[1]}" if last else ""), failures


def _invalidate_caches(mailing_id):
    figures_changed.send(sender=Mailing, mailing_id=mailing_id)
