"""Deliver a run of a mailing over SMTP (design §5, invariants 2-8).

One run (``Attempt``) is delivered batch by batch. Each batch of ``Delivery`` rows is
claimed with a conditional UPDATE (pending -> claimed, with this run's claim token) before
any SMTP call, so two workers never hold the same row. Right before each SMTP transaction,
ONE small transaction writes the outcomes of the messages completed since the last one and
marks the row about to be sent 'sending'. So when a worker is killed, only the row inside
an SMTP transaction is recorded 'unknown' on resume; rows it merely held go back to
pending, and no outcome the server gave is lost. One SMTP connection serves a batch, with
``EMAIL_TIMEOUT`` on every call.

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
import uuid
from collections import Counter
from contextlib import contextmanager, nullcontext
from email.utils import formatdate

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from mailings import scheduling
from mailings.models import Attempt, AttemptKind, AttemptStatus, Client, Delivery, DeliveryStatus
from mailings.rendering import PreparedMessage, Recipient
from lib.smtp import SMTPTransport, TransportError

logger = logging.getLogger(__name__)

FLUSH_EVERY = 2.0  # seconds: the attempt's counters and heartbeat are written at least this often


class RateLimiter:
    """At most ``rate`` sends per second (0 = unlimited)."""

    def __init__(self, rate, *, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / rate if rate else 0.0
        self.clock, self.sleep = clock, sleep
        self.next_at = 0.0

    def wait(self, before_sleep=None):
        """Wait for the next slot; ``before_sleep`` runs first when waiting is needed."""
        if not self.interval:
            return
        now = self.clock()
        if now < self.next_at:
            if before_sleep:
                before_sleep()
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


# --- Claiming and recording -------------------------------------------------------------


def new_claim():
    """A token naming one worker's hold on its rows."""
    return uuid.uuid4().hex


def claim_batch(attempt_id, size, after_id=0, claim=None):
    """Mark up to ``size`` pending rows 'claimed' by ``claim`` and return them; [] when none is left.

    On PostgreSQL, SKIP LOCKED gives concurrent claimers disjoint rows; on SQLite the
    write transaction is exclusive. The conditional UPDATE is the final guard either way,
    and the claim token tells which rows are ours. ``after_id`` is keyset pagination:
    without it each batch would scan past every row already done (quadratic on a
    100,000-recipient run).
    """
    claim = claim or new_claim()
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(attempt_id=attempt_id, status=DeliveryStatus.PENDING, pk__gt=after_id)
            .order_by("pk")
            .values_list("pk", "client_id", "email", "client__full_name", "client__unsubscribed_at", "tries")[:size]
        )
        if not rows:
            return []
        ids = [row[0] for row in rows]
        claimed = Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.CLAIMED, claim=claim
        )
        if claimed != len(ids):
            # Someone else claimed some of them between our read and our write: keep ours.
            logger.warning("attempt %s: lost a race for part of a batch", attempt_id)
            ours = set(Delivery.objects.filter(pk__in=ids, claim=claim).values_list("pk", flat=True))
            rows = [row for row in rows if row[0] in ours]
    return [
        Recipient(pk, client_id, email, full_name or "", unsubscribed is not None, tries)
        for pk, client_id, email, full_name, unsubscribed, tries in rows
    ]


def release_claimed(attempt_id, claim):
    """Rows this run claimed but never handed to SMTP go back to pending, tries unchanged."""
    return Delivery.objects.filter(attempt_id=attempt_id, status=DeliveryStatus.CLAIMED, claim=claim).update(
        status=DeliveryStatus.PENDING, claim=""
    )


DELIVERY = Delivery._meta.db_table
CLIENT = Client._meta.db_table
# The per-message statements are raw SQL: they run once per message, and compiling their
# ORM equivalents cost more than the SMTP transaction itself (bench/send_throughput.py).
STILL_WANTED = (
    f" AND EXISTS (SELECT 1 FROM {CLIENT} c WHERE c.id = {DELIVERY}.client_id AND c.unsubscribed_at IS NULL)"
)


def progress_update(claim, now, outcome=None, ids=(), mark=None):
    """One UPDATE of the rows ``claim`` still holds: ``ids`` get ``outcome`` (status, code,
    reply, attempted); with ``mark`` = (row id, whether its client must still exist and be
    subscribed) the same statement turns that row from claimed to 'sending'."""
    assignments, conditions, where_params = [], [], []
    if outcome:
        status, code, reply, attempted = outcome
        pending = status == DeliveryStatus.PENDING
        sent_at = None if pending else connection.ops.adapt_datetimefield_value(now)
        assignments = [("status", "%s", [status]), ("smtp_code", "%s", [code]),
                       ("smtp_response", "%s", [reply]), ("sent_at", "%s", [sent_at])]
        if attempted:
            assignments.append(("tries", "tries + 1", []))
        if pending:
            assignments.append(("claim", "''", []))
        conditions.append(f"id IN ({', '.join(['%s'] * len(ids))})")
        where_params += ids
    if mark:
        row_id, still_wanted = mark
        conditions.append(f"(id = %s AND status = %s{STILL_WANTED if still_wanted else ''})")
        where_params += [row_id, DeliveryStatus.CLAIMED]
        if outcome:  # the marked row keeps every column but its status
            assignments = [
                (column, f"CASE WHEN id = %s THEN {'%s' if column == 'status' else column} ELSE {sql} END",
                 [row_id, DeliveryStatus.SENDING, *params] if column == "status" else [row_id, *params])
                for column, sql, params in assignments
            ]
        else:
            assignments = [("status", "%s", [DeliveryStatus.SENDING])]
    sets = ", ".join(f"{column} = {sql}" for column, sql, _params in assignments)
    params = [param for _column, _sql, values in assignments for param in values]
    return (f"UPDATE {DELIVERY} SET {sets} WHERE claim = %s AND ({' OR '.join(conditions)})",
            [*params, claim, *where_params])


class Results:
    """Outcomes not yet written; ``write`` stores them in a few grouped UPDATEs."""

    COUNTERS = {DeliveryStatus.SENT: "sent", DeliveryStatus.FAILED: "failed", DeliveryStatus.UNKNOWN: "unknown"}

    def __init__(self):
        self.rows = {}  # (status, code, reply, attempted) -> [delivery ids]
        self.uncounted = Counter()  # written rows not yet in the attempt's counters
        self.last_reply = ""
        self.failures = Counter()

    def record(self, recipient, status, code=None, reply="", attempted=True):
        """``attempted``: the send counts against the recipient's tries."""
        self.rows.setdefault((status, code, reply[:2000], attempted), []).append(recipient.delivery_id)
        if status == DeliveryStatus.SENT:
            self.last_reply = f"{code} {reply}"
        elif status in (DeliveryStatus.FAILED, DeliveryStatus.DEFERRED, DeliveryStatus.UNKNOWN,
                        DeliveryStatus.PENDING):
            self.failures[f"{code} {reply}" if code else reply] += 1

    def record_error(self, recipient, error):
        if error.maybe_delivered:
            self.record(recipient, DeliveryStatus.UNKNOWN, error.code, error.message)
        elif error.connection:
            # The server failed, not the recipient: back to pending, no try counted.
            self.record(recipient, DeliveryStatus.PENDING, error.code, error.message, attempted=False)
        elif error.permanent or recipient.tries + 1 >= settings.MAILING_MAX_TRIES:
            self.record(recipient, DeliveryStatus.FAILED, error.code, error.message)
        else:
            self.record(recipient, DeliveryStatus.DEFERRED, error.code, error.message)

    def write_rows(self, cursor, claim, now, mark=None):
        """Write the rows ``claim`` still holds, one UPDATE per distinct outcome.

        ``mark`` (see ``progress_update``) rides on the last outcome's statement, so the
        usual progress write is ONE statement. Returns (counts written, whether the row to
        mark was marked).
        """
        counts = Counter()
        outcomes = list(self.rows.items())
        for (status, *_rest), ids in outcomes:
            counts[status] += len(ids)
        last, last_ids = outcomes.pop() if outcomes and mark else (None, ())
        for outcome, ids in outcomes:
            cursor.execute(*progress_update(claim, now, outcome, ids))
        if mark:
            cursor.execute(*progress_update(claim, now, last, last_ids, mark))
        self.rows.clear()
        self.uncounted.update(counts)
        return counts, bool(mark) and cursor.rowcount == len(last_ids) + 1

    def write_counters(self, attempt_id, now):
        """The attempt's counters and heartbeat (claim_resume recounts them from the rows
        after a crash, so they may lag the rows by a flush)."""
        increments = {
            field: F(field) + self.uncounted[status] for status, field in self.COUNTERS.items() if self.uncounted[status]
        }
        Attempt.objects.filter(pk=attempt_id).update(heartbeat_at=now, **increments)
        self.uncounted.clear()


@contextmanager
def progress_writes_tuned():
    """The worker's connection tuned for one commit per message, for the duration of a run.

    SQLite: the write-ahead log is checkpointed every 10,000 pages instead of 1,000; each
    checkpoint costs an fsync, and spreading them out takes about half of the cost of the
    per-message commits (measured with bench/send_throughput.py). Durability is unchanged:
    with synchronous=NORMAL a commit is in the log either way; the log just grows to some
    40 MB before it is folded back.

    PostgreSQL: ``SET synchronous_commit TO OFF`` for this session while the run lasts
    (reset after it): a COMMIT returns before its WAL record reaches the disk. What it
    protects against, unchanged: a killed or crashed worker. A commit is done in the
    database server when COMMIT returns, so every 'sending' mark and every result survives
    the worker's death, and no transaction is ever applied by half. What it does not
    protect against: a crash of the PostgreSQL server or its machine may lose the last
    commits of up to three times ``wal_writer_delay`` (0.6 s by default). A row whose
    'sending' mark is lost that way comes back as 'claimed', then pending, and could be sent
    a second time; a lost result turns a sent row into 'unknown'.
    """
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "sqlite":
            cursor.execute("PRAGMA wal_autocheckpoint = 10000")
        elif vendor == "postgresql":
            cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        if vendor == "postgresql" and connection.connection is not None and not connection.needs_rollback:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("RESET synchronous_commit")
            except DatabaseError:
                pass  # a broken connection takes its session setting with it; keep the run's own error


# --- The run ----------------------------------------------------------------------------


class Paused(Exception):
    """The server kept failing at the connection level; the run pauses."""

    def __init__(self, error):
        super().__init__(error.reply)
        self.error = error


class RunDelivery:
    """Delivers one attempt; instantiated per run (holds the connection and counters)."""

    def __init__(self, attempt, *, now, sleep, progress, budget=None):
        self.attempt = attempt
        self.deadline = time.monotonic() + budget if budget else None
        self.after_id = 0  # rows up to here were claimed by this run
        self.claim = new_claim()
        self.now, self.sleep, self.progress = now, sleep, progress
        self.transport = SMTPTransport.from_settings()
        self.message = PreparedMessage.for_attempt(attempt)
        self.limiter = RateLimiter(settings.MAILING_RATE_LIMIT, sleep=sleep)
        self.connection_failures = 0
        self.last_error = None
        self.last_reply = ""
        self.failures = Counter()
        self.owner_name = attempt.mailing.owner.full_name
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

    def skip_reason(self, client_id, *, unsubscribed):
        """Why this recipient must not be mailed, or "" (a test send has no client on purpose)."""
        if client_id is None and not self.is_test:
            return _("The client was deleted before sending.")
        if unsubscribed:
            return _("The client unsubscribed before sending.")
        return ""

    def send_one(self, recipient, results, date):
        reason = self.skip_reason(recipient.client_id, unsubscribed=recipient.unsubscribed)
        if reason:
            results.record(recipient, DeliveryStatus.SKIPPED, reply=reason, attempted=False)
            return
        if self.is_test and not recipient.full_name:
            recipient.full_name = self.owner_name
        self.connect(results)
        self.limiter.wait(before_sleep=lambda: self.save(results))
        data = self.message.build(recipient, date)
        skip = []

        def start():  # runs while the server reads the envelope
            skip.append(self.begin_smtp(recipient, results))
            return skip[0] == ""

        try:
            outcome = self.transport.send(self.message.from_address, recipient.email, data, start=start)
        except TransportError as error:
            results.record_error(recipient, error)
            self.last_error = error
            if error.connection:
                self.note_connection_failure(error)
            else:
                self.connection_failures = 0  # the server answered: it is alive
            return
        if outcome is None:  # begin_smtp said no: the message was abandoned before its end
            if skip[0]:
                results.record(recipient, DeliveryStatus.SKIPPED, reply=skip[0], attempted=False)
            return  # None: another worker took the run over; the row is theirs
        self.connection_failures = 0
        results.record(recipient, DeliveryStatus.SENT, *outcome)

    def begin_smtp(self, recipient, results):
        """The one small transaction at the start of an SMTP transaction (its envelope sent,
        the final dot not yet): the outcomes so far are written and this row becomes
        'sending', unless its client was deleted or unsubscribed meanwhile. Returns "" to go
        ahead, a skip reason, or None when the row is no longer this run's."""
        mark = (recipient.delivery_id, not self.is_test)
        marked = self.save(results, mark=mark)
        if marked:
            return ""
        state = (Delivery.objects.filter(pk=recipient.delivery_id, claim=self.claim)
                 .values_list("status", "client_id", "client__unsubscribed_at").first())
        if state is None or state[0] not in (DeliveryStatus.CLAIMED, DeliveryStatus.SENDING):
            return None
        if state[0] == DeliveryStatus.SENDING:
            return ""  # marked, though the row count did not say so
        return self.skip_reason(state[1], unsubscribed=state[2] is not None)

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
                reason = scheduling.stop_reason(attempt.mailing_id)
                if reason:
                    return self.stop(reason)
                if self.deadline and time.monotonic() > self.deadline:
                    return self.hand_over()
                batch = claim_batch(attempt.pk, settings.MAILING_BATCH_SIZE, after_id=self.after_id, claim=self.claim)
                if not batch:
                    break
                self.after_id = batch[-1].delivery_id
                self.run_batch(batch)
        except Paused as paused:
            return self.pause_for_server(paused.error)
        finally:
            self.transport.close()
        return self.end_of_pass()

    def hand_over(self):
        """Close to the task time limit: continue in a fresh task instead of being killed
        mid-batch (which would leave a batch 'unknown')."""
        Attempt.objects.filter(pk=self.attempt.pk, status=AttemptStatus.RUNNING).update(status=AttemptStatus.PAUSED)
        attempt_id = self.attempt.pk
        transaction.on_commit(lambda: scheduling.enqueue("mailings.tasks.resume_attempt", attempt_id))
        self.attempt.status = AttemptStatus.PAUSED
        logger.info("attempt %s: handed over to a new task before the time limit", attempt_id)
        return self.attempt

    def stop(self, reason):
        text = _("Stopped before the next batch: %(reason)s.") % {"reason": reason}
        scheduling.pause_run(attempt=self.attempt, until=None, reason=text, response=self.summary(text))
        logger.info("attempt %s: %s", self.attempt.pk, text)
        return self.attempt

    def pause_for_server(self, error):
        until = self.now() + datetime.timedelta(seconds=settings.MAILING_PAUSE)
        text = _("The mail server failed %(count)s times in a row (%(reply)s); resuming at %(until)s.") % {
            "count": self.connection_failures, "reply": error.reply,
            "until": timezone.localtime(until).strftime("%Y-%m-%d %H:%M:%S"),
        }
        scheduling.pause_run(attempt=self.attempt, until=until, reason=text, response=self.summary(text))
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
                "count": retriable.count(), "until": timezone.localtime(until).strftime("%Y-%m-%d %H:%M:%S"),
            }
            scheduling.pause_run(attempt=self.attempt, until=until, reason=text, response=self.summary(text))
            return self.attempt
        return finish(self.attempt, now=self.now(), last_reply=self.last_reply, failures=self.failures)

    def summary(self, headline):
        return describe(headline, self.last_reply, self.failures)


def describe(headline, last_reply, failures):
    """The Attempt's server response: what happened, and the server's own words."""
    lines = [headline] if headline else []
    if last_reply:
        lines.append(_("Last accepted: %(reply)s") % {"reply": last_reply.strip()})
    for reply, count in failures.most_common(5):
        lines.append(f"{reply.strip()} (×{count})")
    return "\n".join(lines)[:2000]


def finish(attempt, *, now, last_reply="", failures=None):
    """Close the run with counts recomputed from its Delivery rows (the truth)."""
    failures = failures or Counter()
    with transaction.atomic():
        Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.DEFERRED).update(
            status=DeliveryStatus.FAILED
        )
        counts = dict(
            Delivery.objects.filter(attempt=attempt).values_list("status").annotate(n=Count("pk"))
        )
        attempt.sent = counts.get(DeliveryStatus.SENT, 0)
        attempt.failed = counts.get(DeliveryStatus.FAILED, 0)
        attempt.unknown = counts.get(DeliveryStatus.UNKNOWN, 0)
        attempt.recipients = sum(counts.values())
        ok = not attempt.failed and not attempt.unknown and not counts.get(DeliveryStatus.PENDING)
        attempt.status = AttemptStatus.SUCCESS if ok else AttemptStatus.FAILURE
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
    scheduling.run_finished(attempt=attempt)
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


def task_budget():
    """Seconds a run may use in one django-q2 task before handing over (its timeout minus a margin)."""
    timeout = settings.Q_CLUSTER.get("timeout")
    return max(timeout * 0.8, timeout - 120) if timeout else None


def deliver(attempt, *, now=timezone.now, sleep=time.sleep, progress=None, budget=None):
    """Deliver a claimed (or resumed) run until it finishes, pauses, is stopped or its time
    ``budget`` (seconds) is spent."""
    attempt = Attempt.objects.select_related("mailing__message", "mailing__owner").get(pk=attempt.pk)
    if attempt.status != AttemptStatus.RUNNING:
        return attempt
    logger.info("attempt %s: delivering in pid %s", attempt.pk, os.getpid())
    with progress_writes_tuned():
        return RunDelivery(attempt, now=now, sleep=sleep, progress=progress, budget=budget).run()
