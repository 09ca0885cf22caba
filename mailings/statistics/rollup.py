"""Outcome counts per run, local day, status and SMTP code (``DeliveryStat``): what every
statistic reads, so a figure costs a few hundred rows whatever the size of the Delivery table.

How the counts stay equal to a recount of the rows (``catch_up``, run before a figure is
computed, one short transaction holding the watermark row's lock):

1. A finished run (success or failure) no longer changes its rows: it is counted once, and
   marked ``RolledUpRun``. Rows inserted into it afterwards (only tests and repairs do that)
   are counted by the watermark: rows above ``StatWatermark.last_delivery_id``.
2. A running or paused run still moves rows (pending → sent, deferred → pending, sending →
   unknown): its counts are replaced by a recount at each catch-up, so its cost is its own
   size, never the table's.
3. Test sends are never counted, so never rolled up.

A bounce or a complaint changes one row of a finished run long after its roll-up
(``sent`` → ``bounced``): ``change_status`` makes that change and moves the row's one count
from its old status to its new one in the same transaction, so the figures equal a
recount at every commit and the run is never recounted. Other code that changes the rows
of a finished run (a repair) calls ``forget_runs`` so they are counted again. Retention (mailings/retention.py) deletes old rows
of rolled-up runs only and keeps their counts in ``CompactedDeliveries``; ``rebuild`` (the
``rebuild_statistics`` command) recounts everything from the kept rows plus those counts.
"""
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from mailings.models import (
    Attempt,
    AttemptKind,
    AttemptStatus,
    CompactedDeliveries,
    Delivery,
    DeliveryStat,
    RolledUpRun,
    StatWatermark,
)

FINISHED = (AttemptStatus.SUCCESS, AttemptStatus.FAILURE)
KEY = ("attempt_id", "day", "status", "smtp_code")
RUNS_PER_STATEMENT = 5000


def local_day(moment_expression):
    return TruncDate(moment_expression, tzinfo=ZoneInfo(settings.TIME_ZONE))


def delivery_day():
    """The local day a delivery counts on: that of its outcome, or of its run's start."""
    return local_day(Coalesce("sent_at", "attempt__started_at"))


def grouped_rows(deliveries):
    """``deliveries`` counted per KEY, as a SELECT whose columns are KEY + count."""
    return (
        deliveries.annotate(day=delivery_day())
        .values(*KEY)
        .annotate(n=Count("pk"))
        .order_by()
    )


def insert_counts(rows, table=DeliveryStat):
    """INSERT ... SELECT of a query whose columns are KEY + a count: one statement, no row
    crosses to Python."""
    sql, params = rows.query.sql_with_params()
    columns = ", ".join(connection.ops.quote_name(c) for c in (*KEY, "count"))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table._meta.db_table} ({columns}) {sql}", params)


def counted_runs():
    return Attempt.objects.exclude(kind=AttemptKind.TEST)


def hold_watermark():
    """Lock the watermark row (creating it after a flush) and return it."""
    now = timezone.now()
    if not StatWatermark.objects.filter(pk=1).update(rolled_at=now):
        StatWatermark.objects.get_or_create(pk=1, defaults={"rolled_at": now})
    return StatWatermark.objects.get(pk=1)


def catch_up():
    """Bring ``DeliveryStat`` up to date with the rows (see the module's docstring)."""
    with transaction.atomic():
        watermark = hold_watermark()
        top = Delivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        rolled = RolledUpRun.objects.filter(attempt_id=OuterRef("attempt_id"))
        if top > watermark.last_delivery_id:
            new_rows = Delivery.objects.filter(
                pk__gt=watermark.last_delivery_id, pk__lte=top
            ).filter(Exists(rolled))
            insert_counts(grouped_rows(new_rows))
        roll_up_finished_runs(top)
        recount_open_runs()
        if top != watermark.last_delivery_id:
            StatWatermark.objects.filter(pk=1).update(last_delivery_id=top)


def roll_up_finished_runs(top):
    """Count the runs that finished since the last catch-up, once, up to the watermark."""
    finished = list(
        counted_runs().filter(status__in=FINISHED, rollup__isnull=True).values_list("pk", flat=True)
    )
    # In chunks: after an upgrade or a rebuild every run is new, and a statement's parameters
    # are limited (32,766 on SQLite).
    for start in range(0, len(finished), RUNS_PER_STATEMENT):
        chunk = finished[start:start + RUNS_PER_STATEMENT]
        count_runs_afresh(chunk, Delivery.objects.filter(attempt_id__in=chunk, pk__lte=top))
        RolledUpRun.objects.bulk_create([RolledUpRun(attempt_id=pk) for pk in chunk])


def recount_open_runs():
    """Replace the counts of running and paused runs: their rows still change."""
    open_runs = list(
        counted_runs().exclude(status__in=FINISHED).values_list("pk", flat=True)
    )
    if open_runs:
        count_runs_afresh(open_runs, Delivery.objects.filter(attempt_id__in=open_runs))


def count_runs_afresh(run_ids, deliveries):
    """The runs' counts from their kept rows plus what retention compacted of them."""
    DeliveryStat.objects.filter(attempt_id__in=run_ids).delete()
    insert_counts(grouped_rows(deliveries))
    # Each compaction batch adds its own rows: summed here, a run keeps a few counts.
    compacted = CompactedDeliveries.objects.filter(attempt_id__in=run_ids)
    insert_counts(compacted.values(*KEY).annotate(n=Sum("count")).order_by())


def change_status(rows, status, **fields):
    """Give one delivery a new status (and ``fields``), its count in ``DeliveryStat`` moving
    with it in the same transaction; whether it changed.

    ``rows`` is the delivery filtered on the statuses it may leave (a replay finds nothing).
    A row already counted for good (its run rolled up, the row at or below the watermark)
    has one count moved from its old status to the new one under the same key (a bounce
    keeps the row's day and SMTP code): no recount of its run, however large. Any other row
    is counted at the next catch-up, which sees its new status.
    """
    with transaction.atomic():
        # The watermark's lock first, then the row's: compaction takes them in that order.
        watermark = hold_watermark()
        before = (
            rows.select_for_update(of=("self",)).annotate(day=delivery_day())
            .values("pk", *KEY).first()
        )
        if before is None:
            return False
        Delivery.objects.filter(pk=before["pk"]).update(status=status, **fields)
        counted = RolledUpRun.objects.filter(attempt_id=before["attempt_id"]).exists()
        if counted and before["pk"] <= watermark.last_delivery_id:
            move_count({key: before[key] for key in KEY}, status)
        return True


def move_count(key, status):
    """One count of ``key`` (attempt, day, status, SMTP code) goes to ``status``."""
    source = DeliveryStat.objects.filter(**key, count__gt=0).order_by("pk").first()
    if source is None:  # the counts disagree with the rows (a repair that forgot them)
        forget_runs([key["attempt_id"]])
        return
    if source.count == 1:
        source.delete()
    else:
        DeliveryStat.objects.filter(pk=source.pk).update(count=F("count") - 1)
    # Added to a row of the new key when there is one: a run's bounces stay a few rows.
    target = {**key, "status": status}
    first = DeliveryStat.objects.filter(**target).order_by("pk").values_list("pk", flat=True).first()
    if first is None:
        DeliveryStat.objects.create(**target, count=1)
    else:
        DeliveryStat.objects.filter(pk=first).update(count=F("count") + 1)


def forget_runs(attempt_ids):
    """The rows of these finished runs changed: count them again at the next catch-up."""
    with transaction.atomic():
        hold_watermark()
        RolledUpRun.objects.filter(attempt_id__in=attempt_ids).delete()
        DeliveryStat.objects.filter(attempt_id__in=attempt_ids).delete()


def rebuild():
    """Recount every figure from the kept rows and the compacted counts (``rebuild_statistics``)."""
    with transaction.atomic():
        hold_watermark()
        DeliveryStat.objects.all().delete()
        RolledUpRun.objects.all().delete()
        StatWatermark.objects.filter(pk=1).update(last_delivery_id=0)
        catch_up()
