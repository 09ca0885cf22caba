#!/usr/bin/env python
"""Retention compaction of millions of old rows while a mailing is being sent.

    BENCH_DATABASE_URL=… .venv/bin/python bench/generate_stats_data.py --per-run 510   # once: 5,100,000 rows
    BENCH_DATABASE_URL=… .venv/bin/python bench/retention.py [--days 1] [--recipients 5000] [--rounds 5]
        [--rest 9] [--batch 5000]

Against the statistics bench database (``BENCH_DATABASE_URL``, runs spread over 60 days;
``--days 1`` makes every run older than a day "old": 5,015,000 of the 5,100,000 rows):

1. every figure of the pre-existing runs is recorded: ``DeliveryStat`` per run, day, status
   and SMTP code; each bench owner's dashboard (as ``statistics.queries`` computes it: daily
   counts, totals, mailings by status) and the report of each owner's first mailing (summary,
   runs table, chart); and it is checked against a full recount from the Delivery rows;
2. a compaction process (``retention.compact_old_deliveries`` with the task's rest and batch
   size) is started, and ``--rounds`` times a mailing of ``--recipients`` new clients is sent
   by a worker process (bench/send_throughput.py's worker, to a local SMTP sink) once with the
   compaction paused *between two batches* and once beside it, alternating which goes
   first; the medians are compared (the machine is shared: pairs close in time, medians);
3. the throttled compaction is stopped between batches, and the rest of the old rows is
   compacted flat out (rest 0) by another process, one more send timed beside it (what the
   rest buys);
4. the figures are recorded again and checked against a full recount (rows kept + the
   compacted counts), then once more after ``rebuild_statistics``: all identical.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))
from generate_stats_data import BENCH_URL, database_reachable  # noqa: E402
from send_throughput import create_mailing, setup_django, start_sink  # noqa: E402

BENCH_OWNERS = "@bench.example"


def bench_rows(model):
    return model.objects.filter(attempt__mailing__owner__email__endswith=BENCH_OWNERS)


def recount():
    """Per run, day, status and SMTP code, from the Delivery rows kept plus what retention
    compacted: the full recount every figure must equal."""
    from collections import Counter

    from mailings.models import CompactedDeliveries, Delivery
    from mailings.statistics import rollup

    counts = Counter()
    for row in rollup.grouped_rows(bench_rows(Delivery)):
        counts[tuple(row[k] for k in rollup.KEY)] += row["n"]
    for row in bench_rows(CompactedDeliveries).values(*rollup.KEY, "count"):
        counts[tuple(row[k] for k in rollup.KEY)] += row["count"]
    return {key: n for key, n in counts.items() if n}


def figures(now):
    """Every figure the pages show for the runs that existed before the bench."""
    from collections import Counter

    from django.utils import timezone

    from backoffice.models import User
    from mailings.models import DeliveryStat, Mailing
    from mailings.statistics import queries as stats
    from mailings.statistics import reports, rollup

    rollup.catch_up()
    per_key = Counter()
    for row in bench_rows(DeliveryStat).values(*rollup.KEY, "count"):
        per_key[tuple(row[k] for k in rollup.KEY)] += row["count"]
    today = timezone.localtime(now, stats.local_zone()).date()
    pages = {}
    for owner in User.objects.filter(email__startswith="owner", email__endswith=BENCH_OWNERS).order_by("pk"):
        dashboard = stats.compute_dashboard(owner, now, today, sees_all=False)
        mailing = Mailing.objects.filter(owner=owner).order_by("pk").first()
        report = reports.compute_report(mailing, reports.ReportFilter(), 1, 1, 1)
        pages[owner.email] = {
            "dashboard": (dashboard["daily"], dashboard["totals"], dashboard["by_status"]),
            # Every figure but "compacted" (how many rows retention removed: it grows) and the
            # failures/skipped tables, which list the per-recipient rows themselves.
            "report": ({k: v for k, v in report["summary"].items() if k != "compacted"},
                       report["attempts"]["rows"], report["attempts"]["count"], report["chart_runs"]),
        }
    return {"stats": dict(per_key), "pages": pages}


def compacted_rows():
    from django.db.models import Sum

    from mailings.models import CompactedDeliveries

    return CompactedDeliveries.objects.aggregate(n=Sum("count"))["n"] or 0


def send_mailing(recipients, port):
    """A new mailing delivered by a separate worker process; seconds it took."""
    from django.db import connections

    mailing_id = create_mailing(recipients)
    connections.close_all()
    output = subprocess.run(
        [sys.executable, str(BENCH_DIR / "send_throughput.py"), "--worker", str(mailing_id),
         "--port", str(port), "--database-url", BENCH_URL],
        capture_output=True, text=True, check=True, env={**os.environ, "LOG_LEVEL": "WARNING"},
    ).stdout
    run = json.loads(output.strip().splitlines()[-1])
    assert run["status"] == "success", run
    return run["ended"] - run["started"]


class Compaction:
    """``compact_old_deliveries`` in its own process, which the bench can pause between two
    batches (never inside one: the pause is taken in the rest after a batch)."""

    def __init__(self, days, rest, batch, control_dir):
        self.pause_file = control_dir / "pause"
        self.paused_file = control_dir / "paused"
        self.pause_file.unlink(missing_ok=True)
        self.paused_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--compact", "--days", str(days), "--rest", str(rest),
             "--batch", str(batch), "--control", str(control_dir)],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "LOG_LEVEL": "WARNING"},
        )

    def pause(self):
        self.pause_file.touch()
        while not self.paused_file.exists() and self.process.poll() is None:
            time.sleep(0.02)

    def resume(self):
        self.pause_file.unlink(missing_ok=True)

    def stop(self):
        """Between two batches: nothing half done (a cut batch would roll back anyway)."""
        self.pause()
        self.process.terminate()
        self.process.wait()

    def wait(self):
        return json.loads(self.process.communicate()[0].strip().splitlines()[-1])


def compaction_process(args):
    """The child: the task's function, its rest made pausable by the bench."""
    setup_django(BENCH_URL)
    from django.conf import settings

    from mailings import retention

    settings.DELIVERY_RETENTION_DAYS = args.days
    control = Path(args.control)
    pause_file, paused_file = control / "pause", control / "paused"

    def rest(seconds):
        end = time.monotonic() + seconds
        while True:
            if pause_file.exists():
                paused_file.touch()
                while pause_file.exists():
                    time.sleep(0.02)
                paused_file.unlink(missing_ok=True)
            if time.monotonic() >= end:
                return
            time.sleep(min(0.02, end - time.monotonic()))

    started = time.perf_counter()
    rows = retention.compact_old_deliveries(size=args.batch, rest=args.rest, budget=10**7, sleep=rest)
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started}))


def measure(args):
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from mailings import retention
    from mailings.models import Attempt, Delivery

    rest = retention.REST_PER_WORK if args.rest is None else args.rest
    batch = retention.BATCH_SIZE if args.batch is None else args.batch
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM mailings_delivery")
        total = cursor.fetchone()[0]
    old = Delivery.objects.filter(attempt__in=Attempt.objects.filter(
        started_at__lt=now - timezone.timedelta(days=args.days))).count()
    print(f"database: {BENCH_URL.split('@')[-1]}, {total:,} deliveries, {old:,} of runs older than "
          f"{args.days} day(s); {os.cpu_count()} CPUs; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    started = time.perf_counter()
    before = figures(now)
    assert before["stats"] == recount(), "DeliveryStat differs from a recount of the rows"
    print(f"figures recorded and equal to a full recount ({len(before['stats']):,} counts, "
          f"{len(before['pages'])} dashboards and reports) in {time.perf_counter() - started:.1f} s", flush=True)
    first = compacted_rows()
    control = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-retention-{os.getpid()}"
    control.mkdir(exist_ok=True)
    _sink, stop_sink, port = start_sink()
    alone, during = [], []
    try:
        compaction = Compaction(args.days, rest, batch, control)
        while compacted_rows() == first and compaction.process.poll() is None:
            time.sleep(0.2)  # catch-up done, first batch committed
        throttled_started = time.perf_counter()
        for round_ in range(args.rounds):
            for beside in ((False, True) if round_ % 2 == 0 else (True, False)):
                (compaction.resume if beside else compaction.pause)()
                seconds = send_mailing(args.recipients, port)
                (during if beside else alone).append(seconds)
                print(f"round {round_ + 1}: send {args.recipients} {'beside the compaction' if beside else 'alone'}"
                      f": {seconds:.1f} s ({args.recipients / seconds:,.0f} msg/s), load "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
        compaction.stop()
        throttled_rows, throttled_seconds = compacted_rows() - first, time.perf_counter() - throttled_started
        print(f"throttled compaction (rest {rest} × work, batches of {batch}): {throttled_rows:,} rows in "
              f"{throttled_seconds:.0f} s, paused for half the sends", flush=True)
        flat_out = Compaction(args.days, 0, batch, control)
        time.sleep(2)
        flat_send = send_mailing(args.recipients, port)
        result = flat_out.wait()
        print(f"flat-out compaction (rest 0): {result['rows']:,} rows in {result['seconds']:.1f} s "
              f"({result['rows'] / max(result['seconds'], 1e-6):,.0f} rows/s); a send beside it: "
              f"{flat_send:.1f} s", flush=True)
    finally:
        stop_sink()
        for name in ("pause", "paused"):
            (control / name).unlink(missing_ok=True)
        control.rmdir()
    left = Delivery.objects.filter(attempt__in=Attempt.objects.filter(
        started_at__lt=now - timezone.timedelta(days=args.days))).count()
    after = figures(now)
    recounted = recount()
    call_command("rebuild_statistics", verbosity=0)
    rebuilt = figures(now)
    alone_median, during_median = statistics.median(alone), statistics.median(during)
    print(f"\nrows compacted: {compacted_rows() - first:,}; old rows left: {left:,}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"send of {args.recipients} alone:                 median {alone_median:.1f} s "
          f"({args.recipients / alone_median:,.0f} msg/s) of {', '.join(f'{s:.1f}' for s in alone)}")
    print(f"send beside the throttled compaction: median {during_median:.1f} s "
          f"({args.recipients / during_median:,.0f} msg/s) of {', '.join(f'{s:.1f}' for s in during)}")
    print(f"slow-down beside the throttled compaction: {100 * (during_median / alone_median - 1):+.1f} % "
          f"(target: at most +20 %)")
    print(f"send beside the flat-out compaction: {flat_send:.1f} s "
          f"({100 * (flat_send / alone_median - 1):+.1f} % on the median alone)")
    assert after["stats"] == recounted, "figures after the compaction differ from a full recount"
    assert after == before, "figures changed by the compaction"
    assert rebuilt == before, "figures changed by rebuild_statistics after the compaction"
    print("figures before, after the compaction, after rebuild_statistics and a full recount: identical")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rest", type=float, default=None, help="rest per unit of work (default: the task's)")
    parser.add_argument("--batch", type=int, default=None, help="rows per batch (default: the task's)")
    parser.add_argument("--compact", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--control", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compact:
        return compaction_process(args)
    if "BENCH_DATABASE_URL" not in os.environ:
        # The compaction deletes most of the rows that bench/stats.py recounts: never on the
        # default statistics bench database by accident (``make bench`` runs both).
        print("skipped: set BENCH_DATABASE_URL to a database of bench/generate_stats_data.py "
              "that may lose its old rows")
        return
    if not database_reachable(BENCH_URL):
        print(f"skipped: no PostgreSQL at {BENCH_URL} (set BENCH_DATABASE_URL)")
        return
    setup_django(BENCH_URL)
    measure(args)


if __name__ == "__main__":
    main()
