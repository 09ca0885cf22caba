"""django-q2 entry points: thin, taking ids (and ISO times), claiming runs and delivering them.

The management command ``run_mailing_sending`` calls these same functions in the
foreground, so a run behaves the same whoever starts it.
"""
import time

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mailings import dispatch, lists, preflight, services
from mailings.delivery.loop import deliver, join, task_budget
from mailings.models import AttemptKind
from mailings.runs import claim


def _budget(progress):
    # The foreground command (which passes a progress bar) has no task time limit.
    return None if progress else task_budget()


def _moment(value):
    return parse_datetime(value) if isinstance(value, str) else value


def _deliver_with_helpers(attempt, progress):
    """Deliver a run just claimed or resumed, with MAILING_WORKERS_PER_RUN - 1 free workers
    queued to join it (``join_run``)."""
    if attempt is None:
        return None
    for _helper in range(settings.MAILING_WORKERS_PER_RUN - 1):
        dispatch.enqueue("mailings.tasks.join_run", attempt.pk)
    return deliver(attempt, progress=progress, budget=_budget(progress))


def _refused(mailing_id, kind, scheduled_for, reads_lists=True):
    """Whether the run (``kind`` at ``scheduled_for``, None for the dispatcher's next one) may
    not start now: the mailing is then held with the reason, and its button press forgotten."""
    now = timezone.now()
    refused = bool(preflight.refuse_spammy_run(mailing_id=mailing_id, now=now)
                   or reads_lists and lists.refuse_run_on_filling_list(mailing_id=mailing_id, now=now))
    if refused and scheduled_for is not None:
        services.forget_press(mailing_id, kind, scheduled_for)
    return refused


def run_mailing(mailing_id, expected=None, progress=None):
    """Claim and deliver the mailing's next run (``expected``: "send now" of that run)."""
    if _refused(mailing_id, AttemptKind.SCHEDULED, _moment(expected)):
        return None
    attempt = claim.claim_scheduled_run(
        mailing_id=mailing_id, now=timezone.now(), expected=_moment(expected)
    )
    return _deliver_with_helpers(attempt, progress)


def run_extra(mailing_id, kind, scheduled_for, retried_id=None, progress=None):
    """A manual run to every client, or a retry of a finished run's failed recipients
    (``retried_id``: the run the retry button named; by default the last finished one)."""
    if _refused(mailing_id, kind, _moment(scheduled_for),
                reads_lists=kind != AttemptKind.RETRY):  # a retry's recipients are the run's own
        return None
    attempt = claim.claim_extra_run(
        mailing_id=mailing_id, kind=kind, scheduled_for=_moment(scheduled_for), now=timezone.now(),
        retried_id=retried_id,
    )
    return _deliver_with_helpers(attempt, progress)


def score_message(message_id):
    """SpamAssassin's score of a message for its page (seconds of work, cached)."""
    preflight.score_message(message_id)


def send_test(mailing_id, email):
    attempt = claim.claim_test_run(mailing_id=mailing_id, email=email, now=timezone.now())
    return deliver(attempt, budget=task_budget()) if attempt else None


def resume_attempt(attempt_id, progress=None):
    attempt = claim.claim_resume(attempt_id=attempt_id, now=timezone.now())
    return _deliver_with_helpers(attempt, progress)


def join_run(attempt_id, progress=None):
    """A free worker helps deliver a running run: it claims batches beside the others until
    none is pending, without taking the run over."""
    return join(attempt_id, progress=progress, budget=_budget(progress))


def kick_mailing(mailing_id):
    """After a save: start the run if due, continue a stopped one, or wait for a near one."""
    dispatch_due(only=mailing_id)


def dispatch_due(only=None, window=dispatch.LOOKAHEAD, sleep=time.sleep, clock=timezone.now):
    """Queue due runs and runs to resume; then wait for runs due before the next tick.

    Runs every scheduler tick (about 30 s, see ``dispatch.ensure_schedules``); at a tick
    (``only`` None) the bounce mailbox's poll schedule is brought in line with the worker's
    configuration first.
    """
    if only is None:
        dispatch.ensure_bounce_poll_schedule()
    deadline = clock() + window

    def enqueue_run(mailing_id):
        dispatch.enqueue("mailings.tasks.run_mailing", mailing_id)

    def enqueue_resume(attempt_id):
        dispatch.enqueue("mailings.tasks.resume_attempt", attempt_id)

    while True:
        now = clock()
        dispatch.dispatch(
            now=now, enqueue_run=enqueue_run, enqueue_resume=enqueue_resume, mailing_id=only
        )
        upcoming = dispatch.next_due_within(now, deadline, mailing_id=only)
        if upcoming is None:
            return
        sleep(max(0.0, (upcoming - clock()).total_seconds()) + 0.05)


def compact_old_deliveries():
    """Hourly (``retention.ensure_schedule``): old delivery rows become counts."""
    from mailings import retention

    return retention.compact_old_deliveries()


def poll_bounce_mailbox():
    """Every BOUNCE_IMAP_POLL_MINUTES while configured (``dispatch.ensure_bounce_poll_schedule``):
    read the bounce mailbox once. Failures are logged, never raised: the next poll retries."""
    from mailings import intake_imap

    mailbox = settings.BOUNCE_MAILBOX
    if mailbox is None:  # configuration removed since the schedule was made
        return None
    return intake_imap.poll(mailbox).summary()
