"""When a mailing is due, and claiming its runs (design §5, invariants 1 and 2).

A run is claimed by creating its ``Attempt``: the unique constraint on
(mailing, kind, scheduled_for) is what lets the admin button, the scheduler and several
workers race safely; whoever loses gets an IntegrityError and does nothing. The recipients
of a run are written as ``Delivery`` rows in the same transaction, so a claimed run always
knows whom it owes a message.

Times are computed in ``settings.TIME_ZONE``: daily and weekly runs keep the local
wall-clock time across DST changes, monthly runs keep the day of the month (clamped to the
month's last day). Every function takes ``now`` so tests control the clock.
"""
import calendar
import datetime
import enum
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from mailings import audience
from mailings.models import (
    Attempt,
    AttemptKind,
    AttemptStatus,
    Client,
    Delivery,
    DeliveryStatus,
    Mailing,
    MailingStatus,
    Periodicity,
)
from mailings.signals import figures_changed

logger = logging.getLogger(__name__)

# django-q2's cluster calls its scheduler every 30 s of guard cycles (cluster.py:
# ``counter >= 30``), a little more in wall time. The dispatcher therefore looks this far
# ahead and waits for runs due before the next tick, so a future run starts on time.
LOOKAHEAD = datetime.timedelta(seconds=35)
DISPATCH_TASK = "mailings.tasks.dispatch_due"
SCHEDULE_NAMES = ("mailings: dispatch due runs (:00)", "mailings: dispatch due runs (:30)")

# --- When -----------------------------------------------------------------------------


def _local(moment):
    return timezone.localtime(moment, timezone.get_default_timezone())


def _aware(naive):
    return timezone.make_aware(naive, timezone.get_default_timezone())


def _add_months(local_start, months):
    month_index = local_start.month - 1 + months
    year, month = local_start.year + month_index // 12, month_index % 12 + 1
    day = min(local_start.day, calendar.monthrange(year, month)[1])
    return local_start.replace(year=year, month=month, day=day)


def occurrence(mailing, index):
    """The ``index``-th run time of a periodic mailing (0 = its first send)."""
    if index == 0 or mailing.periodicity == Periodicity.ONCE:
        return mailing.start_at
    local_start = _local(mailing.start_at).replace(tzinfo=None)
    if mailing.periodicity == Periodicity.MONTHLY:
        return _aware(_add_months(local_start, index))
    days = 7 if mailing.periodicity == Periodicity.WEEKLY else 1
    # Adding days to the naive local time keeps the wall-clock time across DST.
    return _aware(local_start + datetime.timedelta(days=days * index))


def _estimate_index(mailing, moment):
    if mailing.periodicity == Periodicity.MONTHLY:
        start, local = _local(mailing.start_at), _local(moment)
        return (local.year - start.year) * 12 + local.month - start.month
    days = 7 if mailing.periodicity == Periodicity.WEEKLY else 1
    return (moment - mailing.start_at) // datetime.timedelta(days=days)


def next_run_after(mailing, moment):
    """The first run time strictly after ``moment``, or None when there is none left."""
    if mailing.start_at > moment:
        candidate = mailing.start_at
    elif mailing.periodicity == Periodicity.ONCE:
        return None
    else:
        index = max(1, _estimate_index(mailing, moment) - 1)
        candidate = occurrence(mailing, index)
        while candidate <= moment:
            index += 1
            candidate = occurrence(mailing, index)
    if mailing.end_at and candidate > mailing.end_at:
        return None
    return candidate


def _last_scheduled_for(mailing):
    return (
        mailing.attempts.filter(kind=AttemptKind.SCHEDULED)
        .order_by("-scheduled_for")
        .values_list("scheduled_for", flat=True)
        .first()
    )


def compute_next_run(mailing):
    """The run a mailing owes next: its first send, or the one after its last scheduled run.

    A run time already in the past is returned as is (it is due now), which is how runs
    missed while no worker ran are caught up: once, since claiming it skips to the future.
    """
    last = _last_scheduled_for(mailing)
    if last is None:
        if mailing.end_at and mailing.start_at > mailing.end_at:
            return None
        return mailing.start_at
    return next_run_after(mailing, last)


# --- Reacting to the admin --------------------------------------------------------------


def mailing_saved(*, mailing, now=None):
    """Called after a mailing and its clients are saved: (re)computes its next run.

    A run already due is queued as soon as the transaction commits, so it starts within
    seconds; one due within the look-ahead gets a dispatcher that waits for it.
    """
    now = now or timezone.now()
    mailing.next_run_at = compute_next_run(mailing)
    has_runs = mailing.attempts.exclude(kind=AttemptKind.TEST).exists()
    if mailing.next_run_at is None and has_runs and not _has_open_attempt(mailing):
        mailing.status = MailingStatus.COMPLETED
    elif mailing.next_run_at is None and not has_runs:
        mailing.status = MailingStatus.COMPLETED
    elif mailing.status == MailingStatus.COMPLETED:
        mailing.status = MailingStatus.RUNNING if has_runs else MailingStatus.CREATED
    mailing.save(update_fields=["next_run_at", "status", "updated_at"])
    if not mailing.is_enabled:
        return
    if mailing.next_run_at and mailing.next_run_at <= now + LOOKAHEAD or _resumable(now).filter(
        mailing=mailing
    ).exists():
        mailing_id = mailing.pk
        transaction.on_commit(lambda: enqueue("mailings.tasks.kick_mailing", mailing_id))


def disable_mailing(*, mailing, actor):
    """Stop a mailing; a run in progress stops at its next batch."""
    mailing.is_enabled = False
    mailing.disabled_at = timezone.now()
    mailing.disabled_by = actor
    mailing.save(update_fields=["is_enabled", "disabled_at", "disabled_by", "updated_at"])


def enable_mailing(*, mailing, actor):
    """Let a disabled mailing run again from its next due time; a stopped run continues."""
    mailing.is_enabled = True
    mailing.disabled_at = None
    mailing.disabled_by = None
    mailing.save(update_fields=["is_enabled", "disabled_at", "disabled_by", "updated_at"])
    mailing_saved(mailing=mailing)


# --- The admin's buttons: each press names the run it starts ----------------------------
#
# The confirmation page shows the run a button would start and carries its identity
# (``ButtonRun.token``) in the form; the POST acts on exactly that run. So a second press, or
# a page rendered before the scheduler claimed the run, can never start another run: the
# run it names either exists already (the press is a no-op that says so) or is no longer
# the one the button would start (stale: nothing happens).


@dataclass(frozen=True)
class ButtonRun:
    """A run a button starts: its Attempt key (kind, scheduled_for) and what it follows.

    A scheduled run is its due time. An extra run (manual "send now" when no run is left, or
    a retry) follows the mailing's newest run (for a retry: the finished run it retries) and
    takes that run's start time as its ``scheduled_for``, so there is one extra run per
    run it follows, however many times and by however many people the button is pressed.
    """

    kind: str  # an AttemptKind value, as a plain string (it travels through the queue)
    scheduled_for: datetime.datetime
    follows: int | None = None  # the followed attempt's id; 0 for a mailing that never ran

    @property
    def token(self):
        if self.kind == AttemptKind.SCHEDULED:
            return f"{self.kind}:{self.scheduled_for.isoformat()}"
        return f"{self.kind}:{self.follows}"


class Press(str, enum.Enum):
    """What a press of "send now" or "retry failed" did."""

    QUEUED = "queued"
    ALREADY = "already"  # the run it names exists: going or done; nothing new started
    STALE = "stale"  # the page named a run the button would no longer start; nothing done
    STOPPED = "stopped"  # the mailing is disabled or its owner blocked
    NOTHING = "nothing"  # no run to start (retry with no failed recipients)


@dataclass(frozen=True)
class PressResult:
    outcome: Press
    run: ButtonRun | None = None
    attempt: Attempt | None = None

    def __bool__(self):
        return self.outcome == Press.QUEUED


def _extra_run(mailing, kind, follows):
    if follows is None:
        return ButtonRun(kind, mailing.created_at, 0)
    return ButtonRun(kind, follows.started_at, follows.pk)


def _newest_run(mailing):
    return mailing.attempts.exclude(kind=AttemptKind.TEST).order_by("-started_at", "-pk").first()


def send_now_run(mailing):
    """The run "send now" starts: the next run pulled forward, or one extra run when none is left."""
    if mailing.next_run_at is not None:
        return ButtonRun(AttemptKind.SCHEDULED.value, mailing.next_run_at)
    return _extra_run(mailing, AttemptKind.MANUAL.value, _newest_run(mailing))


RETRIED_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.DEFERRED, DeliveryStatus.PENDING)


def retry_run(mailing):
    """The retry "retry failed" starts, of the last finished run; None when nobody failed."""
    previous = last_finished_run(mailing)
    if previous is None or not previous.deliveries.filter(status__in=RETRIED_STATUSES).exists():
        return None
    return _extra_run(mailing, AttemptKind.RETRY.value, previous)


def run_from_token(mailing, token):
    """The run a confirmation form names; None for a malformed token or someone else's run."""
    kind, _sep, value = str(token or "").partition(":")
    if kind == AttemptKind.SCHEDULED:
        moment = parse_datetime(value) if value else None
        return ButtonRun(kind, moment) if moment and timezone.is_aware(moment) else None
    if kind not in (AttemptKind.MANUAL, AttemptKind.RETRY) or not value.isdigit():
        return None
    if int(value) == 0:
        return _extra_run(mailing, kind, None)
    follows = mailing.attempts.exclude(kind=AttemptKind.TEST).filter(pk=int(value)).first()
    return _extra_run(mailing, kind, follows) if follows else None


def send_now(*, mailing, run=None):
    """The admin's "send now" of ``run`` (the one its page showed; by default the current one)."""
    return _press(mailing, run, send_now_run(mailing))


def retry_failed(*, mailing, run=None):
    """The admin's "retry failed" of ``run`` (by default the current one)."""
    return _press(mailing, run, retry_run(mailing))


def _press(mailing, run, current):
    run = run or current
    if run is None:
        return PressResult(Press.NOTHING)
    taken = Attempt.objects.filter(mailing=mailing, kind=run.kind, scheduled_for=run.scheduled_for).first()
    if taken is not None:
        return PressResult(Press.ALREADY, run, taken)
    if stop_reason(mailing.pk):
        return PressResult(Press.STOPPED, run)
    if run != current:
        return PressResult(Press.STALE, run)
    if not _first_press(mailing, run):
        return PressResult(Press.ALREADY, run)
    # Should the marker be lost (cache down or expired), presses that all come before the
    # worker claims the run queue the same run; the unique Attempt key lets one of them send it.
    if run.kind == AttemptKind.SCHEDULED:
        args = ("mailings.tasks.run_mailing", mailing.pk, run.scheduled_for.isoformat())
    else:
        retried = run.follows if run.kind == AttemptKind.RETRY else None
        args = ("mailings.tasks.run_extra", mailing.pk, run.kind, run.scheduled_for.isoformat(), retried)
    transaction.on_commit(lambda: enqueue(*args))
    return PressResult(Press.QUEUED, run)


PRESS_MARK_SECONDS = 120  # a queued run is normally claimed within seconds


def _first_press(mailing, run):
    """True for the first press of ``run`` within PRESS_MARK_SECONDS, so the presses that come
    before the worker has claimed the run can say it is already going. Only a message
    depends on it: an unreachable cache counts as a first press."""
    key = f"mailings:press:{mailing.pk}:{run.kind}:{run.scheduled_for.isoformat()}"
    try:
        return cache.add(key, 1, PRESS_MARK_SECONDS)
    except Exception:  # noqa: BLE001 - any cache backend failure; the Attempt key still guards
        logger.warning("mailing %s: could not mark the press of %s in the cache", mailing.pk, key)
        return True


def send_test(*, mailing, email, now):
    """Queue a test of the mailing's message to one address (the person asking)."""
    transaction.on_commit(lambda: enqueue("mailings.tasks.send_test", mailing.pk, email))


def stop_reason(mailing_id):
    """Why a run of this mailing must stop now, or "" when it may go on (one query)."""
    row = (
        Mailing.objects.filter(pk=mailing_id)
        .values("is_enabled", "owner__is_active")
        .first()
    )
    if row is None:
        return _("the mailing was deleted")
    if not row["is_enabled"]:
        return _("the mailing was disabled")
    if not row["owner__is_active"]:
        return _("the owner is blocked")
    return ""


# --- Claiming runs ----------------------------------------------------------------------


def _has_open_attempt(mailing):
    return mailing.attempts.filter(
        status__in=[AttemptStatus.RUNNING, AttemptStatus.PAUSED]
    ).exclude(kind=AttemptKind.TEST).exists()


def _create_attempt(mailing, kind, scheduled_for, now):
    """Insert the Attempt; None when someone else already holds this run."""
    try:
        with transaction.atomic():
            return Attempt.objects.create(
                mailing=mailing, kind=kind, scheduled_for=scheduled_for, heartbeat_at=now
            )
    except IntegrityError:
        return None


def _insert_deliveries(attempt, select_sql, params):
    """INSERT ... SELECT: the recipients never pass through Python, so memory stays flat."""
    columns = "attempt_id, client_id, email, status, smtp_response, tries"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Delivery._meta.db_table} ({columns}) {select_sql}", params
        )
    attempt.recipients = Delivery.objects.filter(attempt=attempt).count()
    attempt.save(update_fields=["recipients"])


def _client_select(attempt_id):
    status = (
        f"CASE WHEN c.unsubscribed_at IS NULL THEN '{DeliveryStatus.PENDING}' "
        f"ELSE '{DeliveryStatus.SKIPPED}' END"
    )
    return f"SELECT {int(attempt_id)}, c.id, c.email, {status}, '', 0 FROM {Client._meta.db_table} c"


def _populate_from_mailing(attempt):
    attempt.recipients = audience.insert_recipients(attempt)
    attempt.save(update_fields=["recipients"])


def _populate_from_failures(attempt, previous):
    sql = (
        f"{_client_select(attempt.pk)} JOIN {Delivery._meta.db_table} d ON d.client_id = c.id "
        "WHERE d.attempt_id = %s AND d.status IN (%s, %s, %s)"
    )
    retry = [DeliveryStatus.FAILED, DeliveryStatus.DEFERRED, DeliveryStatus.PENDING]
    _insert_deliveries(attempt, sql, [previous.pk, *retry])


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
        mailing.status = MailingStatus.RUNNING
        mailing.save(update_fields=["next_run_at", "status", "updated_at"])
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
        if mailing.status == MailingStatus.CREATED:
            mailing.status = MailingStatus.RUNNING
            mailing.save(update_fields=["status", "updated_at"])
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


def _resumable(now):
    stale = now - datetime.timedelta(seconds=settings.MAILING_STALE_AFTER)
    ready = Q(mailing__paused_until__isnull=True) | Q(mailing__paused_until__lte=now)
    return Attempt.objects.filter(
        Q(status=AttemptStatus.PAUSED, mailing__is_enabled=True, mailing__owner__is_active=True)
        & ready
        | Q(status=AttemptStatus.RUNNING, heartbeat_at__lt=stale)
    )


def resumable_attempts(now):
    """Runs to continue: paused ones whose pause is over, and running ones whose worker died."""
    return _resumable(now)


def claim_resume(*, attempt_id, now):
    """Take over a paused or dead run; None when it is not resumable or someone else took it.

    Rows a dead worker left in 'sending' may or may not have reached the server: they become
    'unknown' and are never sent again. Retriable temporary failures go back to 'pending'.
    """
    with transaction.atomic():
        if not _resumable(now).filter(pk=attempt_id).exists():
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
        Delivery.objects.filter(
            attempt=attempt, status=DeliveryStatus.DEFERRED, tries__lt=settings.MAILING_MAX_TRIES
        ).update(status=DeliveryStatus.PENDING)
        if lost:
            attempt.unknown += lost
            attempt.save(update_fields=["unknown"])
        Mailing.objects.filter(pk=attempt.mailing_id).update(paused_until=None, pause_reason="")
    logger.info("attempt %s resumed (%s in-flight sends recorded as unknown)", attempt_id, lost)
    return attempt


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


def run_finished(*, attempt):
    """Called when a run ends: the mailing is completed when no run is left to do."""
    mailing = Mailing.objects.get(pk=attempt.mailing_id)
    if attempt.kind != AttemptKind.TEST and mailing.next_run_at is None:
        if not _has_open_attempt(mailing):
            mailing.status = MailingStatus.COMPLETED
            mailing.save(update_fields=["status", "updated_at"])
    _invalidate_caches(mailing.pk)


def _invalidate_caches(mailing_id):
    figures_changed.send(sender=Mailing, mailing_id=mailing_id)


# --- Queue ------------------------------------------------------------------------------


def enqueue(func, *args):
    from django_q.tasks import async_task

    return async_task(func, *args, task_name=f"{func.rsplit('.', 1)[-1]}{list(args)}"[:100])


def schedule_unscheduled():
    """Give a next run to mailings that never got one (loaded from fixtures, created in a
    shell or by an import): the admin is not the only way mailings appear."""
    pending = Mailing.objects.filter(next_run_at__isnull=True, status=MailingStatus.CREATED)
    for mailing in pending.exclude(attempts__isnull=False):
        mailing.next_run_at = compute_next_run(mailing)
        if mailing.next_run_at is None:
            mailing.status = MailingStatus.COMPLETED
        mailing.save(update_fields=["next_run_at", "status", "updated_at"])


def dispatch(*, now, enqueue_run, enqueue_resume, mailing_id=None):
    """Queue every run that is due and every run to resume; returns how many were queued."""
    schedule_unscheduled()
    due, resumable = Mailing.objects.due(now), resumable_attempts(now)
    if mailing_id is not None:
        due, resumable = due.filter(pk=mailing_id), resumable.filter(mailing_id=mailing_id)
    count = 0
    for pk in due.values_list("pk", flat=True):
        enqueue_run(pk)
        count += 1
    for pk in resumable.values_list("pk", flat=True):
        enqueue_resume(pk)
        count += 1
    return count


def next_due_within(now, horizon, mailing_id=None):
    """The earliest future run time up to ``horizon``, or None."""
    upcoming = Mailing.objects.due(horizon).filter(next_run_at__gt=now)
    if mailing_id is not None:
        upcoming = upcoming.filter(pk=mailing_id)
    return upcoming.order_by("next_run_at").values_list("next_run_at", flat=True).first()


def ensure_schedules(schedule_model=None, now=None):
    """Create the two minutely django-q2 schedules (at :00 and :30) that run the dispatcher.

    Two offset schedules make the dispatcher run at every scheduler tick (about every 30 s);
    a single minutely one would run at every other tick. Idempotent.
    """
    if schedule_model is None:
        from django_q.models import Schedule as schedule_model
    now = now or timezone.now()
    minute = now.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    for name, offset in zip(SCHEDULE_NAMES, (0, 30)):
        schedule_model.objects.update_or_create(
            name=name,
            defaults={
                "func": DISPATCH_TASK,
                "schedule_type": "I",
                "minutes": 1,
                "repeats": -1,
                "next_run": minute + datetime.timedelta(seconds=offset),
            },
        )
