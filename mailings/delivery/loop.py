"""The SMTP loop that delivers a claimed run; see docs/architecture.md, "The life of a run".

Batch by batch (claimed and recorded by ``mailings.delivery.progress``), one SMTP
connection per batch, with ``EMAIL_TIMEOUT`` on every call.

Failures come classified from ``lib.smtp`` (``TransportError``). Once the message data
is sent, anything but a clear reply to the final dot is 'unknown' and never resent.
Permanent (5xx) replies fail the recipient; temporary ones (4xx) are retried later with
backoff. A connection-level failure before the data (refused, 421, garbage, a drop) is the
server's, not the recipient's: the row goes back to pending with its tries unchanged, and
after ``MAILING_CONNECT_RETRIES`` of them in a row the run pauses instead of hammering a
dead server.
"""
import datetime
import logging
import os
import time
from collections import Counter
from contextlib import nullcontext
from email.utils import formatdate

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from lib.dates import local_datetime
from lib.smtp import SMTPTransport, TransportError
from mailings.bounces import return_path
from mailings.delivery.progress import (
    Results, claim_batch, held_rows, new_claim, progress_writes_tuned, release_claimed,
)
from mailings.delivery.throttle import SLOW_DOWN_CODES, SharedRateLimiter
from mailings.models import Attempt, AttemptKind, AttemptStatus, Delivery, DeliveryStatus, SkipReason, Suppression
from mailings.rendering import PreparedMessage
from mailings.runs.state import describe, finish, hand_over, pause_run, stop_reason

logger = logging.getLogger(__name__)

FLUSH_EVERY = 2.0  # seconds: the attempt's counters and heartbeat are written at least this often


class Paused(Exception):
    """The server kept failing at the connection level; the run pauses."""

    def __init__(self, error):
        super().__init__(error.reply)
        self.error = error


class RunDelivery:
    """Delivers one attempt; instantiated per worker on a run (holds the connection and counters).

    Several workers may deliver one run: the one that claimed it, and ``joined`` ones
    (``join``) that claim batches beside it without taking the run over. Every worker checks
    at each batch that the mailing may still be sent and the run is still running, and
    keeps the run's heartbeat fresh; the last worker holding rows ends the pass.
    """

    def __init__(self, attempt, *, now, sleep, progress, budget=None, joined=False):
        self.attempt = attempt
        self.joined = joined
        self.deadline = time.monotonic() + budget if budget else None
        self.after_id = 0  # rows up to here were claimed by this run
        self.claim = new_claim()
        self.now, self.sleep, self.progress = now, sleep, progress
        self.transport = SMTPTransport.from_settings()
        self.message = PreparedMessage.for_attempt(attempt)
        self.limiter = SharedRateLimiter(
            attempt_id=attempt.pk, rate=settings.MAILING_RATE_LIMIT,
            domain_rates=settings.MAILING_DOMAIN_RATE_LIMITS, sleep=sleep,
        )
        self.connection_failures = 0
        self.last_error = None
        self.last_reply = ""
        self.failures = Counter()
        self.owner_name = attempt.mailing.owner.full_name
        self.owner_id = attempt.mailing.owner_id  # whose suppression list rules out an address
        self.is_test = attempt.kind == AttemptKind.TEST  # to the owner's own address, no client
        self.counted_at = 0.0  # when the attempt's counters and heartbeat were last written

    def connect(self, results):
        """Open the session, retrying with backoff; raise Paused after too many failures."""
        while True:
            try:
                self.transport.open()
                return
            except TransportError as error:
                self.failures[error.reply] += 1
                self.note_connection_failure(error)
                self.save(results)  # nothing the server said waits in memory through a sleep
                self.sleep(settings.MAILING_CONNECT_BACKOFF * 2 ** (self.connection_failures - 1))

    def note_connection_failure(self, error):
        self.connection_failures += 1
        self.last_error = error
        logger.warning("attempt %s: %s (%s in a row)", self.attempt.pk, error.reply, self.connection_failures)
        if self.connection_failures >= settings.MAILING_CONNECT_RETRIES:
            raise Paused(error)

    def skip_reason(self, client_id, *, unsubscribed, suppressed=""):
        """Why this recipient must not be mailed (a ``SkipReason``), or "" (a test send has
        no client on purpose). ``suppressed``: the reason of the address's suppression entry."""
        if client_id is None and not self.is_test:
            return SkipReason.DELETED
        if unsubscribed:
            return SkipReason.UNSUBSCRIBED
        return suppressed

    def skip(self, recipient, results, reason):
        """Record ``recipient`` skipped for ``reason``, with a sentence saying why in the reply."""
        if reason == SkipReason.DELETED:
            reply = _("The client was deleted before sending.")
        elif reason == SkipReason.UNSUBSCRIBED:
            reply = _("The client unsubscribed before sending.")
        else:
            reply = _("The address was put on the suppression list (%(reason)s) before sending.") % {
                "reason": SkipReason(reason).label}
        results.record(recipient, DeliveryStatus.SKIPPED, reply=reply, attempted=False, skip_reason=reason)

    def send_one(self, recipient, results, date):
        reason = self.skip_reason(recipient.client_id, unsubscribed=recipient.unsubscribed)
        if reason:
            self.skip(recipient, results, reason)
            return
        if self.is_test and not recipient.full_name:
            recipient.full_name = self.owner_name
        if self.limiter.held(recipient.email):
            results.record(recipient, DeliveryStatus.PENDING, reply=_("Its domain asked to slow down; retried later."),
                           attempted=False)
            return
        self.connect(results)
        self.limiter.wait(recipient.email, before_sleep=lambda: self.save(results))
        data = self.message.build(recipient, date)
        skip = []

        def start():  # runs while the server reads the envelope
            skip.append(self.begin_smtp(recipient, results))
            return skip[0] == ""

        try:
            envelope_sender = return_path(recipient.delivery_id, self.message.from_address)  # per-delivery VERP
            outcome = self.transport.send(envelope_sender, recipient.email, data, start=start)
        except TransportError as error:
            if self.domain_slows_down(recipient, error):
                results.record(recipient, DeliveryStatus.PENDING, error.code, error.message, attempted=False)
            else:
                results.record_error(recipient, error)
            self.last_error = error
            if error.connection:
                self.note_connection_failure(error)
            else:
                self.connection_failures = 0  # the server answered: it is alive
            return
        if outcome is None:  # begin_smtp said no: the message was abandoned before its end
            if skip[0]:
                self.skip(recipient, results, skip[0])
            return  # None: another worker took the run over; the row is theirs
        self.connection_failures = 0
        results.record(recipient, DeliveryStatus.SENT, *outcome)

    def domain_slows_down(self, recipient, error):
        """A capped domain's 421/451 before the message went through is throttling, not the
        recipient's failure: the domain is held for MAILING_RETRY_DELAY for every worker and
        the row goes back to pending with its tries unchanged."""
        if error.maybe_delivered or error.code not in SLOW_DOWN_CODES:
            return False
        return self.limiter.hold(recipient.email, settings.MAILING_RETRY_DELAY)

    def begin_smtp(self, recipient, results):
        """The one small transaction at the start of an SMTP transaction (its envelope sent,
        the final dot not yet): the outcomes so far are written and this row becomes
        'sending', unless its client was deleted or unsubscribed, or its address suppressed,
        meanwhile. Returns "" to go ahead, a skip reason, or None when the row is no longer
        this run's."""
        mark = (recipient.delivery_id, None if self.is_test else self.owner_id)
        marked = self.save(results, mark=mark)
        if marked:
            return ""
        state = (Delivery.objects.filter(pk=recipient.delivery_id, claim=self.claim)
                 .values_list("status", "client_id", "client__unsubscribed_at").first())
        if state is None or state[0] not in (DeliveryStatus.CLAIMED, DeliveryStatus.SENDING):
            return None
        if state[0] == DeliveryStatus.SENDING:
            return ""  # marked, though the row count did not say so
        suppressed = (Suppression.objects.filter(owner_id=self.owner_id, email__iexact=recipient.email)
                      .values_list("reason", flat=True).first() or "")
        return self.skip_reason(state[1], unsubscribed=state[2] is not None, suppressed=suppressed)

    def run_batch(self, batch):
        results = Results()
        date = formatdate(usegmt=True)
        try:
            for recipient in batch:
                self.send_one(recipient, results, date)
        finally:
            # However the batch ends (done, paused, crashed), what the server said is
            # written and rows never handed to SMTP go back to pending. A row a crash left
            # 'sending' stays so: it may have gone out, and resume records it unknown.
            with transaction.atomic():
                self.save(results, counters=True)
                release_claimed(self.attempt.pk, self.claim)

    def save(self, results, *, mark=None, counters=False):
        """Write the outcomes held in memory (and ``mark`` a row 'sending', see
        ``progress_update``); the attempt's counters and heartbeat too when asked or every
        FLUSH_EVERY seconds. Returns whether the row was marked.

        The usual write is one statement, run in autocommit (a statement is a transaction);
        several share one transaction.
        """
        if results.last_reply:
            self.last_reply = results.last_reply
        self.failures.update(results.failures)
        results.failures.clear()
        now = self.now()
        marked = False
        single = len(results.rows) <= 1 and not connection.in_atomic_block
        with (nullcontext() if single else transaction.atomic()), connection.cursor() as cursor:
            if results.rows or mark:
                counts, marked = results.write_rows(cursor, self.claim, now, mark)
                if self.progress and counts:
                    self.progress(counts)
        if counters or time.monotonic() - self.counted_at > FLUSH_EVERY:
            # Its own statement: the counters may lag the rows (claim_resume recounts them).
            results.write_counters(self.attempt.pk, now)
            self.counted_at = time.monotonic()
        return marked

    def run(self):
        attempt = self.attempt
        try:
            while True:
                reason = stop_reason(attempt.mailing_id)
                if reason:
                    return self.stop(reason)
                if not Attempt.objects.filter(pk=attempt.pk, status=AttemptStatus.RUNNING).exists():
                    return self.current()  # another worker paused or ended the run
                if self.deadline and time.monotonic() > self.deadline:
                    # A joiner just leaves; the worker that claimed the run hands it over
                    # (and its successor brings new joiners).
                    return self.current() if self.joined else hand_over(attempt)
                batch = claim_batch(attempt.pk, settings.MAILING_BATCH_SIZE, after_id=self.after_id, claim=self.claim)
                if not batch:
                    break
                self.after_id = batch[-1].delivery_id
                self.run_batch(batch)
        except Paused as paused:
            return self.pause_for_server(paused.error)
        finally:
            self.transport.close()
        return self.end_if_last()

    def current(self):
        self.attempt.refresh_from_db()
        return self.attempt

    def end_if_last(self):
        """No pending row is left for this worker: end the pass if no other worker still
        holds rows, exactly once whoever gets here.

        The conditional UPDATE takes the run's row lock (on SQLite, the write lock) and
        lets only a running run through, so two workers finishing together end it once.
        Rows a dead worker left claimed or 'sending' keep the run open: its heartbeat goes
        stale and ``claim_resume`` recovers them, then ends it.
        """
        with transaction.atomic():
            running = Attempt.objects.filter(pk=self.attempt.pk, status=AttemptStatus.RUNNING).update(
                heartbeat_at=self.now()
            )
            if not running:
                return self.current()
            if held_rows(self.attempt.pk):
                logger.info("attempt %s: other workers still hold rows; they end the pass", self.attempt.pk)
                return self.attempt
            return self.end_of_pass()

    def stop(self, reason):
        text = _("Stopped before the next batch: %(reason)s.") % {"reason": reason}
        pause_run(attempt=self.attempt, until=None, reason=text, response=self.summary(text))
        logger.info("attempt %s: %s", self.attempt.pk, text)
        return self.attempt

    def pause_for_server(self, error):
        until = self.now() + datetime.timedelta(seconds=settings.MAILING_PAUSE)
        text = _("The mail server failed %(count)s times in a row (%(reply)s); resuming at %(until)s.") % {
            "count": self.connection_failures, "reply": error.reply,
            "until": local_datetime(until),
        }
        pause_run(attempt=self.attempt, until=until, reason=text, response=self.summary(text))
        return self.attempt

    def end_of_pass(self):
        """All rows were tried once: retry temporary failures later, or finish the run.

        Rows back in 'pending' met a server failure (not theirs) during the pass; they are
        retried like temporary failures, without a try counted against them.
        """
        retriable = Delivery.objects.filter(attempt=self.attempt).filter(
            Q(status=DeliveryStatus.DEFERRED, tries__lt=settings.MAILING_MAX_TRIES)
            | Q(status=DeliveryStatus.PENDING)
        )
        fewest_tries = retriable.order_by("tries").values_list("tries", flat=True).first()
        if fewest_tries is not None:
            delay = settings.MAILING_RETRY_DELAY * 2 ** max(fewest_tries - 1, 0)
            until = self.now() + datetime.timedelta(seconds=delay)
            text = _("%(count)s recipients got a temporary failure; retrying at %(until)s.") % {
                "count": retriable.count(), "until": local_datetime(until),
            }
            pause_run(attempt=self.attempt, until=until, reason=text, response=self.summary(text))
            return self.attempt
        return finish(self.attempt, now=self.now(), last_reply=self.last_reply, failures=self.failures)

    def summary(self, headline):
        return describe(headline, self.last_reply, self.failures)


def task_budget():
    """Seconds a run may use in one django-q2 task before handing over (its timeout minus a margin)."""
    timeout = settings.Q_CLUSTER.get("timeout")
    return max(timeout * 0.8, timeout - 120) if timeout else None


def deliver(attempt, *, now=timezone.now, sleep=time.sleep, progress=None, budget=None, joined=False):
    """Deliver a claimed (or resumed) run until it finishes, pauses, is stopped or its time
    ``budget`` (seconds) is spent; ``joined``: help the worker that claimed it (see ``join``)."""
    attempt = Attempt.objects.select_related("mailing__message", "mailing__owner").get(pk=attempt.pk)
    if attempt.status != AttemptStatus.RUNNING:
        return attempt
    logger.info("attempt %s: delivering in pid %s%s", attempt.pk, os.getpid(), " (joined)" if joined else "")
    with progress_writes_tuned():
        return RunDelivery(attempt, now=now, sleep=sleep, progress=progress, budget=budget, joined=joined).run()


def join(attempt_id, **options):
    """Claim batches of a running run beside the worker that claimed it; None when the run
    is gone. A run already ended, paused or a test send is left alone."""
    attempt = Attempt.objects.filter(pk=attempt_id).first()
    if attempt is None or attempt.kind == AttemptKind.TEST:
        return attempt
    return deliver(attempt, joined=True, **options)
