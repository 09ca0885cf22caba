"""What people's actions call: saving a mailing, disabling / enabling it, the admin's buttons.

Saving a mailing (re)schedules it, whichever way it is saved: the admin, ``loaddata``, the
shell, ``Mailing.objects.create``. ``mailing_saved`` is connected to ``post_save`` (see
``MailingsConfig.ready``); saves with ``update_fields`` are the system's own bookkeeping
(statuses, next runs, disabling) and are left out, which also keeps ``mailing_saved`` from
reacting to its own save.
"""
import datetime
import enum
import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mailings import dispatch
from mailings.models import Attempt, AttemptKind
from mailings.runs.claim import RETRIED_STATUSES, last_finished_run
from mailings.runs.state import save_settled_status, stop_reason
from mailings.schedule import compute_next_run

logger = logging.getLogger(__name__)

# --- Saving, disabling, enabling -------------------------------------------------------


def mailing_saved(*, mailing, now=None, start_due=True):
    """Called after a mailing is saved: (re)computes its next run and settles its status.

    With ``start_due``, a run already due is queued as soon as the transaction commits, so it
    starts within seconds; one due within the look-ahead gets a dispatcher that waits for it.
    """
    now = now or timezone.now()
    mailing.next_run_at = compute_next_run(mailing)
    save_settled_status(mailing, "next_run_at")
    if start_due:
        start_if_due(mailing, now)


def start_if_due(mailing, now):
    """Queue the mailing's kick on commit when a run is due soon or one may continue."""
    if not mailing.is_enabled:
        return
    soon = mailing.next_run_at and mailing.next_run_at <= now + dispatch.LOOKAHEAD
    if soon or dispatch.resumable_attempts(now).filter(mailing=mailing).exists():
        mailing_id = mailing.pk
        transaction.on_commit(lambda: dispatch.enqueue("mailings.tasks.kick_mailing", mailing_id))


def on_mailing_saved(sender, instance, created, raw, update_fields, **kwargs):
    """``post_save`` of a Mailing: every full save reschedules it.

    A mailing just created gets its schedule but is not started yet: its clients are added
    after it (in autocommit, after its commit), so its due run is queued when they are added
    (``on_clients_changed``) or found at the dispatcher's next tick. ``loaddata`` adds them
    inside its own transaction, so a loaded mailing is queued on its commit.
    """
    if update_fields is not None:
        return
    mailing_saved(mailing=instance, start_due=raw or not created)


def on_clients_changed(sender, instance, action, reverse, **kwargs):
    """``m2m_changed`` of a mailing's clients: a due run starts once they are in."""
    if action == "post_add" and not reverse:
        start_if_due(instance, timezone.now())


def disable_mailing(*, mailing, actor):
    """Stop a mailing; a run in progress stops at its next batch."""
    mailing.is_enabled = False
    mailing.disabled_at = timezone.now()
    mailing.disabled_by = actor
    mailing.save(update_fields=["is_enabled", "disabled_at", "disabled_by", "updated_at"])


def enable_mailing(*, mailing):
    """Let a disabled mailing run again from its next due time; a stopped run continues."""
    mailing.is_enabled = True
    mailing.disabled_at = None
    mailing.disabled_by = None
    mailing.save(update_fields=["is_enabled", "disabled_at", "disabled_by", "updated_at"])
    mailing_saved(mailing=mailing)


def pause_mailing(*, mailing, actor):
    """Pause a mailing: a run in progress stops at its next batch, no new run starts.

    Unlike disabling, it says "for now": ``resume_mailing`` continues the stopped run where
    it stopped (its rows keep their outcomes, so nobody gets it twice).
    """
    mailing.paused_at = timezone.now()
    mailing.paused_by = actor
    mailing.save(update_fields=["paused_at", "paused_by", "updated_at"])


def resume_mailing(*, mailing):
    """Continue a paused mailing: its stopped run resumes, its schedule goes on."""
    mailing.paused_at = None
    mailing.paused_by = None
    mailing.save(update_fields=["paused_at", "paused_by", "updated_at"])
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


def newest_run(mailing_id):
    """The mailing's newest run that counts (test sends do not), or None."""
    return (
        Attempt.objects.filter(mailing_id=mailing_id).exclude(kind=AttemptKind.TEST)
        .order_by("-started_at", "-pk").first()
    )


def send_now_run(mailing):
    """The run "send now" starts: the next run pulled forward, or one extra run when none is left."""
    if mailing.next_run_at is not None:
        return ButtonRun(AttemptKind.SCHEDULED.value, mailing.next_run_at)
    return _extra_run(mailing, AttemptKind.MANUAL.value, newest_run(mailing.pk))


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
    transaction.on_commit(lambda: dispatch.enqueue(*args))
    return PressResult(Press.QUEUED, run)


PRESS_MARK_SECONDS = 120  # a queued run is normally claimed within seconds


def _first_press(mailing, run):
    """True for the first press of ``run`` within PRESS_MARK_SECONDS, so the presses that come
    before the worker has claimed the run can say it is already going. Only a message
    depends on it: an unreachable cache counts as a first press."""
    key = _press_key(mailing.pk, run.kind, run.scheduled_for)
    try:
        return cache.add(key, 1, PRESS_MARK_SECONDS)
    except Exception:  # noqa: BLE001 - any cache backend failure; the Attempt key still guards
        logger.warning("mailing %s: could not mark the press of %s in the cache", mailing.pk, key)
        return True


def forget_press(mailing_id, kind, scheduled_for):
    """The press of a run refused before its claim (tasks: the spam threshold, a list still
    filling) started nothing: the next press queues the run again instead of saying it goes."""
    try:
        cache.delete(_press_key(mailing_id, kind, scheduled_for))
    except Exception:  # noqa: BLE001 - any cache backend failure: the mark expires by itself
        logger.warning("mailing %s: could not forget the press of its refused run", mailing_id)


def _press_key(mailing_id, kind, scheduled_for):
    return f"mailings:press:{mailing_id}:{AttemptKind(kind).value}:{scheduled_for.isoformat()}"


def send_test(*, mailing, email):
    """Queue a test of the mailing's message to one address (the person asking)."""
    transaction.on_commit(lambda: dispatch.enqueue("mailings.tasks.send_test", mailing.pk, email))
