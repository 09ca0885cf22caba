"""Claiming batches of a run's rows and writing each message's progress.

One run (``Attempt``) is delivered batch by batch. Each batch of ``Delivery`` rows is
claimed with a conditional UPDATE (pending -> claimed, with this run's claim token) before
any SMTP call, so two workers never hold the same row. Right before each SMTP transaction,
ONE small transaction writes the outcomes of the messages completed since the last one and
marks the row about to be sent 'sending'. So when a worker is killed, only the row inside
an SMTP transaction is recorded 'unknown' on resume; rows it merely held go back to
pending, and no outcome the server gave is lost.
"""
import logging
import uuid
from collections import Counter
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from mailings.models import Attempt, Client, Delivery, DeliveryStatus, Suppression
from mailings.rendering import Recipient

logger = logging.getLogger(__name__)


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


def held_rows(attempt_id):
    """Whether some worker holds rows of the run (claimed, or inside an SMTP transaction)."""
    return Delivery.objects.filter(
        attempt_id=attempt_id, status__in=[DeliveryStatus.CLAIMED, DeliveryStatus.SENDING]
    ).exists()


DELIVERY = Delivery._meta.db_table
CLIENT = Client._meta.db_table
SUPPRESSION = Suppression._meta.db_table
# The per-message statements are raw SQL: they run once per message, and compiling their
# ORM equivalents cost more than the SMTP transaction itself (bench/send_throughput.py).
# The suppression test is one probe of the unique index on (owner_id, LOWER(email)); its one
# parameter is the mailing's owner.
STILL_WANTED = (
    f" AND EXISTS (SELECT 1 FROM {CLIENT} c WHERE c.id = {DELIVERY}.client_id AND c.unsubscribed_at IS NULL)"
    f" AND NOT EXISTS (SELECT 1 FROM {SUPPRESSION} s WHERE s.owner_id = %s AND LOWER(s.email) = LOWER({DELIVERY}.email))"
)


def progress_update(claim, now, outcome=None, ids=(), mark=None):
    """One UPDATE of the rows ``claim`` still holds: ``ids`` get ``outcome`` (status, code,
    reply, attempted, skip reason); with ``mark`` = (row id, the mailing's owner id when its
    client must still exist, be subscribed and not be on the owner's suppression list, else
    None) the same statement turns that row from claimed to 'sending'."""
    assignments, conditions, where_params = [], [], []
    if outcome:
        status, code, reply, attempted, skip_reason = outcome
        pending = status == DeliveryStatus.PENDING
        sent_at = None if pending else connection.ops.adapt_datetimefield_value(now)
        assignments = [("status", "%s", [status]), ("smtp_code", "%s", [code]),
                       ("smtp_response", "%s", [reply]), ("sent_at", "%s", [sent_at])]
        if attempted:
            assignments.append(("tries", "tries + 1", []))
        if pending:
            assignments.append(("claim", "''", []))
        if skip_reason:
            assignments.append(("skip_reason", "%s", [skip_reason]))
        conditions.append(f"id IN ({', '.join(['%s'] * len(ids))})")
        where_params += ids
    if mark:
        row_id, owner_id = mark
        conditions.append(f"(id = %s AND status = %s{STILL_WANTED if owner_id is not None else ''})")
        where_params += [row_id, DeliveryStatus.CLAIMED, *([owner_id] if owner_id is not None else [])]
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


PREPARED_SHAPES = 32  # distinct statement shapes prepared per connection, at most


def execute_often(cursor, sql, params):
    """Run the per-message progress statement, prepared once per connection on PostgreSQL.

    It runs once per message with a handful of shapes; PostgreSQL would plan it anew each
    time, and planning costs more than executing it (measured: 0.3 ms against 0.2 ms).
    The prepared statements live as long as the database session that holds them.
    """
    if connection.vendor != "postgresql":
        cursor.execute(sql, params)
        return
    raw = connection.connection
    cache = getattr(connection, "_prepared_progress", None)
    if cache is None or cache[0] is not raw:  # a new session has none of the old statements
        cache = (raw, {})
        connection._prepared_progress = cache
    names = cache[1]
    name = names.get(sql)
    if name is None:
        if len(names) >= PREPARED_SHAPES:
            cursor.execute(sql, params)
            return
        name = f"mailing_progress_{len(names)}"
        numbered = sql.split("%s")
        text = "".join(part + (f"${index}" if index < len(numbered) else "")
                       for index, part in enumerate(numbered, start=1))
        cursor.execute(f"PREPARE {name} AS {text}")
        names[sql] = name
    cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)


class Results:
    """Outcomes not yet written; ``write`` stores them in a few grouped UPDATEs."""

    COUNTERS = {DeliveryStatus.SENT: "sent", DeliveryStatus.FAILED: "failed", DeliveryStatus.UNKNOWN: "unknown"}

    def __init__(self):
        self.rows = {}  # (status, code, reply, attempted, skip reason) -> [delivery ids]
        self.uncounted = Counter()  # written rows not yet in the attempt's counters
        self.last_reply = ""
        self.failures = Counter()

    def record(self, recipient, status, code=None, reply="", attempted=True, skip_reason=""):
        """``attempted``: the send counts against the recipient's tries."""
        self.rows.setdefault((status, code, reply[:2000], attempted, skip_reason), []).append(recipient.delivery_id)
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
            execute_often(cursor, *progress_update(claim, now, last, last_ids, mark))
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
