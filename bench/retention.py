#!/usr/bin/env python
"""Retention compaction of millions of old rows while a mailing is being sent.

    .venv/bin/python bench/generate_stats_data.py --per-run 1000   # once: 10,000,000 deliveries
    .venv/bin/python bench/retention.py [--days 30] [--recipients 20000] [--rest 9] [--budget SECONDS]

Against the statistics bench database (``BENCH_DATABASE_URL``, runs spread over 60 days):

1. the figures of every pre-existing run (``DeliveryStat`` summed per run and status), an
   owner's dashboard and a mailing's report are recorded;
2. reference: a mailing of ``--recipients`` clients is sent alone by a worker process
   (bench/send_throughput.py's worker, to a local SMTP sink), and timed;
3. the same size of mailing is sent again while another process compacts every row of
   the runs started more than ``--days`` days ago (``retention.compact_old_deliveries``);
4. the reference is measured once more after the compaction (the machine is shared: the
   slower of the two alone runs is not taken, the faster is);
5. the figures are recorded again, then once more after ``rebuild_statistics``: all three
   must be identical.

``--rounds N`` measures on a shared machine instead: one compaction process, stopped for
each send alone and continued for each send beside it, N rounds, medians compared.
``--rest`` is the compaction's rest per unit of work (``retention.REST_PER_WORK`` by
default; 0 = flat out); ``--budget`` stops the compaction after that many seconds, as the
hourly task does (the rows left wait for the next run).
"""
import argparse
import json
import os
import signal
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


def figures():
    """Every figure of the runs that existed before the bench: they must never move."""
    from django.db.models import Sum

    from backoffice.models import User
    from mailings.models import DeliveryStat, Mailing
    from mailings.statistics import queries as stats
    from mailings.statistics import reports

    owner = User.objects.get(email="owner0@bench.example")
    mailing = Mailing.objects.filter(owner=owner).order_by("pk").first()
    stats.invalidate_for_mailing(mailing.pk)
    report = reports.report(mailing, reports.ReportFilter())
    per_run = DeliveryStat.objects.filter(attempt__mailing__owner__email__endswith="@bench.example")
    return {
        "per_run_and_status": sorted(
            per_run.values_list("attempt_id", "status").annotate(n=Sum("count")).order_by()
        ),
        "dashboard": stats.dashboard(owner)["daily"],
        # Every figure but "compacted", the count of rows retention removed, which grows.
        "report": ({key: value for key, value in report["summary"].items() if key != "compacted"},
                   report["attempts"]["rows"], report["chart_runs"]),
    }


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
    assert run["sent"] == recipients, run
    return run["seconds"]


def start_compaction(days, rest, budget):
    code = (
        "import json, time, sys; sys.path.insert(0, '.');"
        "from send_throughput import setup_django; setup_django(sys.argv[1]);"
        "from django.conf import settings; settings.DELIVERY_RETENTION_DAYS = int(sys.argv[2]);"
        "from mailings import retention; t = time.perf_counter();"
        "n = retention.compact_old_deliveries(budget=float(sys.argv[4]), rest=float(sys.argv[3]));"
        "print(json.dumps({'rows': n, 'seconds': time.perf_counter() - t}))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, BENCH_URL, str(days), str(rest), str(budget)], cwd=BENCH_DIR,
        stdout=subprocess.PIPE, text=True, env={**os.environ, "LOG_LEVEL": "WARNING"},
    )


def one_send_during_the_whole_compaction(args, rest, port):
    """Alone, during (the compaction runs to its end or budget), alone again: best alone."""
    alone = [send_mailing(args.recipients, port)]
    print(f"send {args.recipients} alone: {alone[0]:.1f} s", flush=True)
    compaction = start_compaction(args.days, rest, args.budget)
    time.sleep(2)  # the compaction is under way (catch-up done, batches deleting)
    during = send_mailing(args.recipients, port)
    print(f"send {args.recipients} during compaction: {during:.1f} s", flush=True)
    result = json.loads(compaction.communicate()[0].strip().splitlines()[-1])
    print(f"compaction (rest {rest} × work): {result['rows']:,} rows in {result['seconds']:.1f} s "
          f"({result['rows'] / result['seconds']:,.0f} rows/s)", flush=True)
    alone.append(send_mailing(args.recipients, port))
    print(f"send {args.recipients} alone again: {alone[1]:.1f} s", flush=True)
    return min(alone), during


def interleaved_rounds(args, rest, port):
    """On a shared machine: one compaction process, stopped (SIGSTOP) for each send alone
    and continued (SIGCONT) for each send beside it, ``--rounds`` times; medians compared."""
    from django.db.models import Sum

    from mailings.models import CompactedDeliveries

    def compacted():
        return CompactedDeliveries.objects.aggregate(n=Sum("count"))["n"] or 0

    first = compacted()
    compaction = start_compaction(args.days, rest, args.budget)
    time.sleep(2)
    alone, during = [], []
    started = time.perf_counter()
    try:
        for _ in range(args.rounds):
            compaction.send_signal(signal.SIGSTOP)
            alone.append(send_mailing(args.recipients, port))
            compaction.send_signal(signal.SIGCONT)
            during.append(send_mailing(args.recipients, port))
            print(f"send {args.recipients}: alone {alone[-1]:.1f} s, during compaction {during[-1]:.1f} s",
                  flush=True)
    finally:
        compaction.send_signal(signal.SIGCONT)
        compaction.terminate()  # the batch under way rolls back: nothing half done
        compaction.wait()
    rows = compacted() - first
    print(f"compaction (rest {rest} × work) beside the sends: {rows:,} rows compacted in "
          f"{time.perf_counter() - started:.0f} s (about half of it stopped)", flush=True)
    return statistics.median(alone), statistics.median(during)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--recipients", type=int, default=20000)
    parser.add_argument("--rest", type=float, default=None)
    parser.add_argument("--budget", type=float, default=10**6)
    parser.add_argument("--rounds", type=int, default=0,
                        help="interleave sends alone and beside one compaction this many times")
    args = parser.parse_args()
    if not database_reachable(BENCH_URL):
        print(f"skipped: no PostgreSQL at {BENCH_URL} (set BENCH_DATABASE_URL)")
        return
    setup_django(BENCH_URL)
    from django.core.management import call_command
    from django.db import connection

    from mailings import retention
    from mailings.models import Delivery

    rest = retention.REST_PER_WORK if args.rest is None else args.rest

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM mailings_delivery")
        total = cursor.fetchone()[0]
    print(f"database: {BENCH_URL.split('@')[-1]}, {total:,} deliveries; machine: {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    before = figures()
    sink, stop_sink, port = start_sink()
    try:
        if args.rounds:
            alone, during = interleaved_rounds(args, rest, port)
        else:
            alone, during = one_send_during_the_whole_compaction(args, rest, port)
    finally:
        stop_sink()
    after = figures()
    call_command("rebuild_statistics", verbosity=0)
    rebuilt = figures()
    print(f"slow-down of the send during compaction: {100 * (during / alone - 1):+.1f} % "
          f"(target: at most +20 %)")
    print(f"deliveries left: {Delivery.objects.count():,}")
    assert after == before, "figures changed by the compaction"
    assert rebuilt == before, "figures changed by rebuild_statistics after the compaction"
    print("figures before, after the compaction and after rebuild_statistics: identical")


if __name__ == "__main__":
    main()
