"""The queue side of sending: what to queue when, and the django-q2 schedules that ask.

``enqueue`` is the one way a task enters django-q2. Task paths are stored in the queue and
in its schedules (``mailings.tasks.dispatch_due`` ...), so the functions of
``mailings/tasks.py`` keep their names. Every function takes ``now`` so tests control the clock.
"""
import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from mailings.models import Attempt, AttemptStatus, Mailing

# django-q2's cluster calls its scheduler every 30 s of guard cycles (cluster.py:
# ``counter >= 30``), a little more in wall time. The dispatcher therefore looks this far
# ahead and waits for runs due before the next tick, so a future run starts on time.
LOOKAHEAD = datetime.timedelta(seconds=35)
DISPATCH_TASK = "mailings.tasks.dispatch_due"
SCHEDULE_NAMES = ("mailings: dispatch due runs (:00)", "mailings: dispatch due runs (:30)")


def enqueue(func, *args):
    from django_q.tasks import async_task

    return async_task(func, *args, task_name=f"{func.rsplit('.', 1)[-1]}{list(args)}"[:100])


def resumable_attempts(now):
    """Runs to continue: paused ones whose pause is over, and running ones whose worker died."""
    stale = now - datetime.timedelta(seconds=settings.MAILING_STALE_AFTER)
    ready = Q(mailing__paused_until__isnull=True) | Q(mailing__paused_until__lte=now)
    return Attempt.objects.filter(
        Q(status=AttemptStatus.PAUSED, mailing__is_enabled=True, mailing__owner__is_active=True,
          mailing__paused_at__isnull=True)
        & ready
        | Q(status=AttemptStatus.RUNNING, heartbeat_at__lt=stale)
    )


def dispatch(*, now, enqueue_run, enqueue_resume, mailing_id=None):
    """Queue every run that is due and every run to resume; returns how many were queued."""
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


BOUNCE_POLL_TASK = "mailings.tasks.poll_bounce_mailbox"
BOUNCE_POLL_SCHEDULE = "mailings: poll the bounce mailbox"


def ensure_bounce_poll_schedule(schedule_model=None, now=None):
    """The django-q2 schedule that polls the bounce mailbox every BOUNCE_IMAP_POLL_MINUTES
    exists while BOUNCE_IMAP_HOST is set, and not otherwise. Idempotent, and writes only what
    differs: a schedule already right keeps its next run.

    Run after every ``migrate`` (``MailingsConfig.ready`` connects it to post_migrate) and at
    every dispatcher tick in the worker (``tasks.dispatch_due``), so the schedule follows the
    worker's configuration within a tick, with or without a migrate.
    """
    if schedule_model is None:
        from django_q.models import Schedule as schedule_model
    mailbox = settings.BOUNCE_MAILBOX
    if mailbox is None:
        schedule_model.objects.filter(name=BOUNCE_POLL_SCHEDULE).delete()
        return None
    wanted = {"func": BOUNCE_POLL_TASK, "schedule_type": "I", "minutes": mailbox.poll_minutes, "repeats": -1}
    schedule = schedule_model.objects.filter(name=BOUNCE_POLL_SCHEDULE).order_by("pk").first()
    if schedule is None:
        now = now or timezone.now()
        return schedule_model.objects.create(
            name=BOUNCE_POLL_SCHEDULE, next_run=now.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1),
            **wanted,
        )
    # Two callers that both found none (a migrate and a tick) both created one; keep one,
    # or the mailbox is polled twice at once at every poll.
    schedule_model.objects.filter(name=BOUNCE_POLL_SCHEDULE).exclude(pk=schedule.pk).delete()
    changed = [field for field, value in wanted.items() if getattr(schedule, field) != value]
    if changed:
        for field in changed:
            setattr(schedule, field, wanted[field])
        schedule.save(update_fields=changed)
    return schedule


def bounce_poll_schedule_after_migrate(sender, apps=None, **kwargs):
    try:  # the migrated state's model: absent when django_q was migrated back to zero
        schedule_model = apps.get_model("django_q", "Schedule") if apps else None
    except LookupError:
        return
    ensure_bounce_poll_schedule(schedule_model)
