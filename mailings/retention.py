"""Retention: Delivery rows of old runs are compacted into counts (``CompactedDeliveries``).

With ``DELIVERY_RETENTION_DAYS`` = N (0 = keep forever), the rows of finished runs started
more than N days ago are deleted in batches of ``BATCH_SIZE`` by id, each batch its own
short transaction: its counts are added to ``CompactedDeliveries`` and the rows deleted in
the same transaction, so no figure ever misses or doubles them. Only rows already rolled up
into ``DeliveryStat`` (a finished run, at or below the watermark) are touched, and
``DeliveryStat`` itself is left alone: dashboards, reports and exports show the same figures
before and after. A recipient's own rows of those runs are gone; what remains is the run's
totals (``compacted_count`` tells pages how many rows went).

The hourly django-q2 schedule ``RETENTION_SCHEDULE`` (created by migration 0007) calls
``mailings.tasks.compact_old_deliveries``; a call stops after ``time_budget()`` seconds and
the next one goes on where it stopped.
"""
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from mailings.models import Attempt, CompactedDeliveries, Delivery, RolledUpRun
from mailings.statistics import rollup

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
# After each batch the task rests this many times as long as the batch took: it uses at most
# a tenth of the database's time, so a mailing being sent meanwhile keeps its pace
# (bench/retention.py: unthrottled, a send on the 2-core bench machine took 2.5 times longer).
REST_PER_WORK = 9
RETENTION_SCHEDULE = "mailings: compact old deliveries"
RETENTION_TASK = "mailings.tasks.compact_old_deliveries"


def retention_days():
    return max(settings.DELIVERY_RETENTION_DAYS, 0)


def cutoff(now):
    """Runs started before this moment lose their rows; None when rows are kept forever."""
    days = retention_days()
    return now - timedelta(days=days) if days else None


def time_budget():
    """Seconds one task may work: well inside django-q2's task timeout."""
    timeout = settings.Q_CLUSTER.get("timeout") or 600
    return timeout * 0.5


def old_rolled_up_rows(before, after_id, up_to_id):
    old_runs = Attempt.objects.filter(started_at__lt=before).filter(
        Exists(RolledUpRun.objects.filter(attempt_id=OuterRef("pk")))
    )
    return Delivery.objects.filter(pk__gt=after_id, pk__lte=up_to_id, attempt__in=old_runs)


def compact_batch(before, after_id, size=BATCH_SIZE):
    """Compact up to ``size`` old rows with ids above ``after_id``; (rows compacted, last id).

    Holds the watermark row's lock for the batch, so a catch-up or a rebuild of the
    statistics never sees a batch half done.
    """
    with transaction.atomic():
        watermark = rollup.hold_watermark()
        rows = old_rolled_up_rows(before, after_id, watermark.last_delivery_id)
        ids = list(rows.order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return 0, after_id
        batch = Delivery.objects.filter(pk__in=ids)
        rollup.insert_counts(rollup.grouped_rows(batch), table=CompactedDeliveries)
        batch.delete()
    return len(ids), ids[-1]


def compact_old_deliveries(now=None, size=BATCH_SIZE, budget=None, rest=REST_PER_WORK,
                           clock=time.monotonic, sleep=time.sleep):
    """Compact every old row, batch after batch (resting ``rest`` times each batch's time),
    until none is left or the budget is spent."""
    before = cutoff(now or timezone.now())
    if before is None:
        return 0
    rollup.catch_up()  # runs that finished lately become compactable
    deadline = clock() + (time_budget() if budget is None else budget)
    total, after_id = 0, 0
    while clock() < deadline:
        started = clock()
        count, after_id = compact_batch(before, after_id, size)
        if not count:
            break
        total += count
        sleep((clock() - started) * rest)
    if total:
        logger.info("retention: compacted %s deliveries of runs started before %s", total, before)
    return total


def compacted_count(attempt):
    """How many of the run's delivery rows retention removed (0 when none)."""
    return attempt.compacted.aggregate(n=Sum("count"))["n"] or 0


def ensure_schedule(schedule_model=None, now=None):
    """The hourly schedule of the compaction task (idempotent)."""
    if schedule_model is None:
        from django_q.models import Schedule as schedule_model
    now = now or timezone.now()
    schedule_model.objects.update_or_create(
        name=RETENTION_SCHEDULE,
        defaults={
            "func": RETENTION_TASK,
            "schedule_type": "H",
            "repeats": -1,
            "next_run": now.replace(minute=17, second=0, microsecond=0) + timedelta(hours=1),
        },
    )
