#!/usr/bin/env python
"""One run of N recipients on PostgreSQL + Redis: 1 worker, 2 workers, and the machine's limit.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> REDIS_URL=redis://127.0.0.1:6379/<n> \\
    SECRET_KEY=… .venv/bin/python bench/scale_out.py [--sizes 100000,1000000] [--workers 1,2]

Without both variables, or without postfix, it says why and skips (``make bench``).

For each size, in one run of the script and against the same postfix ``smtp-sink``:

- a mailing of N new clients (written by SQL over ``generate_series``) is delivered by one
  worker process, then a second mailing of N by two worker processes on the same run (the
  first claims it, the other joins it as a ``join_run`` task does: bench/send_throughput.py's
  ``--worker`` mode, which calls ``mailings.delivery.loop.deliver`` / ``join``);
- the physical limit: postfix's own C sender ``smtp-source`` sends N messages of about the
  same size to the same sink, over 1 session and over as many sessions as the most workers.

Every case gets a fresh sink that appends each mail transaction to a dump file (``-D``);
the script counts the ``X-Rcpt-Args`` records per address there: the messages the sink
accepted, and the addresses it got more than once (duplicates: must be 0 for the runs).
It prints messages/s (from the claim to the last worker's end, and from the first to the
last message sent), each worker's peak memory (VmHWM), the load average, and the figures of
every case side by side.

``--stop-after SECONDS`` kills a run's workers still sending by then (their peak memory read
from /proc first) and reports the part sent: for a size that does not fit the time at hand.

Needs postfix's smtp-sink and smtp-source (``apt-get install postfix``, see .ci/run); the
dump files take about 3.5 KB a message on disk (removed after counting).
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))
from send_throughput import free_port, setup_django  # noqa: E402

SMTP_SINK, SMTP_SOURCE = "/usr/sbin/smtp-sink", "/usr/sbin/smtp-source"
RECIPIENT = re.compile(rb"^X-Rcpt-Args: *(?:TO:)?<?([^>\s]*)>?", re.IGNORECASE)


class CountingSink:
    """postfix's smtp-sink on a free loopback port, dumping every transaction to one file."""

    def __init__(self, workdir):
        self.dir = Path(tempfile.mkdtemp(prefix="sink-", dir=workdir))
        self.dir.chmod(0o777)  # smtp-sink writes as "nobody" when started by root
        self.dump = self.dir / "dump"
        self.port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [SMTP_SINK, *user, "-D", str(self.dump), f"127.0.0.1:{self.port}", "1000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.process.kill()
        raise RuntimeError("smtp-sink did not start")

    def stop_and_count(self):
        """(messages accepted, addresses received more than once, extra copies); removes the dump."""
        self.process.terminate()
        self.process.wait()
        per_address = Counter()
        grep = subprocess.Popen(["grep", "-a", "^X-Rcpt-Args:", str(self.dump)], stdout=subprocess.PIPE,
                                env={**os.environ, "LC_ALL": "C"})
        for line in grep.stdout:
            match = RECIPIENT.match(line)
            per_address[match.group(1).lower() if match else line] += 1
        grep.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        repeated = {address: n for address, n in per_address.items() if n > 1}
        return sum(per_address.values()), len(repeated), sum(n - 1 for n in repeated.values())


def create_mailing(size):
    """A mailing of ``size`` new clients (rNNNNNNN@example.net), clients and links written by
    two INSERT … SELECT over generate_series; returns its id."""
    from django.db import connection, transaction
    from django.utils import timezone

    from backoffice.models import User
    from mailings.models import Mailing, Message

    owner = User.objects.create_user(email=f"scale{size}-{time.time_ns()}@example.com",
                                     password="bench-password-1", full_name="Bench")
    message = Message.objects.create(
        owner=owner, subject="Новости для {{ full_name }}",
        body="<h1>Здравствуйте, {{ full_name }}!</h1><p>Письмо для {{ email }}. " + "Текст новости. " * 40 + "</p>",
    )
    mailing = Mailing.objects.create(owner=owner, message=message, start_at=timezone.now() + timezone.timedelta(days=1))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO mailings_client (created_at, updated_at, email, full_name, comment, owner_id) "
            "SELECT now(), now(), 'r' || lpad(i::text, 7, '0') || '@example.net', 'Получатель ' || i, '', %s "
            "FROM generate_series(0, %s - 1) AS i", [owner.pk, size])
        cursor.execute(
            "INSERT INTO mailings_mailing_clients (mailing_id, client_id) "
            "SELECT %s, id FROM mailings_client WHERE owner_id = %s", [mailing.pk, owner.pk])
    # Due now: the worker's claim (mailing_saved, then claim_scheduled_run) starts the run.
    Mailing.objects.filter(pk=mailing.pk).update(start_at=timezone.now())
    return mailing.pk


def peak_rss_mb(pid):
    """A live process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return None


def mailing_run(size, workers, workdir, database_url, stop_after=None):
    """A new mailing of ``size`` delivered by ``workers`` worker processes to a fresh sink.

    With ``stop_after`` (seconds), workers still sending then are measured (peak memory read
    from /proc) and killed: the figures are those of the part sent."""
    from django.db import connections
    from django.db.models import Max, Min

    from mailings.models import Attempt, Delivery, DeliveryStatus

    mailing_id = create_mailing(size)
    connections.close_all()
    sink = CountingSink(workdir)
    load = os.getloadavg()[0]
    command = [sys.executable, str(BENCH_DIR / "send_throughput.py"), "--worker", str(mailing_id),
               "--port", str(sink.port), "--database-url", database_url]
    started = time.time()
    processes = [subprocess.Popen(command + (["--joins"] if i else []), stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "LOG_LEVEL": "WARNING"}) for i in range(workers)]
    stopped = False
    while stop_after and any(p.poll() is None for p in processes):
        if time.time() - started > stop_after:
            rss = [peak_rss_mb(p.pid) for p in processes]
            for process in processes:
                process.kill()
            stopped = True
            break
        time.sleep(1)
    reports = []
    for process in processes:
        output, _ = process.communicate()
        if not stopped:
            assert process.returncode == 0, output
            reports.append(json.loads(output.strip().splitlines()[-1]))
    ended = time.time()
    received, repeated, extra = sink.stop_and_count()
    attempt = Attempt.objects.filter(mailing_id=mailing_id).first()
    rows = Delivery.objects.filter(attempt=attempt)
    sent = rows.filter(status=DeliveryStatus.SENT).count()
    first, last = rows.aggregate(first=Min("sent_at"), last=Max("sent_at")).values()
    connections.close_all()
    if stopped:
        return {
            "case": f"{workers} worker{'s' if workers > 1 else ''} (stopped)",
            "status": f"stopped after {ended - started:.0f} s", "sent": sent,
            "seconds": ended - started, "rate": sent / (ended - started),
            "sending_rate": sent / (last - first).total_seconds() if sent > 1 else None,
            "received": received, "repeated": repeated, "extra": extra, "load": load,
            "rss_mb": rss, "rss_start_mb": [],
        }
    seconds = max(r["ended"] for r in reports) - reports[0]["started"]
    return {
        "case": f"{workers} worker{'s' if workers > 1 else ''}", "status": attempt.status, "sent": sent,
        "seconds": seconds, "rate": size / seconds,
        "sending_rate": size / max((last - first).total_seconds(), 1e-6),
        "received": received, "repeated": repeated, "extra": extra, "load": load,
        "rss_mb": [round(r["rss_peak_kb"] / 1024) for r in reports],
        "rss_start_mb": [round(r["rss_before_kb"] / 1024) for r in reports],
    }


def smtp_source(size, sessions, workdir, size_of_run):
    """postfix's smtp-source: ``size`` messages of 3,000 bytes, one distinct recipient each
    (``-N``), over ``sessions`` parallel sessions, to a fresh sink."""
    sink = CountingSink(workdir)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run([SMTP_SOURCE, "-N", "-s", str(sessions), "-m", str(size), "-l", "3000",
                    "-f", "noreply@example.com", "-t", "r@example.net", f"127.0.0.1:{sink.port}"],
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    received, repeated, extra = sink.stop_and_count()
    return {"case": f"smtp-source, {sessions} session{'s' if sessions > 1 else ''}"
                    + (f" ({size:,})" if size != size_of_run else ""), "status": "-",
            "sent": size, "seconds": seconds, "rate": size / seconds, "sending_rate": None,
            "received": received, "repeated": repeated, "extra": extra, "load": load,
            "rss_mb": [], "rss_start_mb": []}


def print_table(size, results):
    print(f"\n{size:,} recipients / messages:")
    print(f"{'case':<32} {'msg/s':>7} {'time':>9} {'msg/s sending':>14} {'at sink':>10} "
          f"{'duplicates':>10} {'peak RSS per worker':>20} {'load':>5}")
    for r in results:
        sending = f"{r['sending_rate']:,.0f}" if r["sending_rate"] else "-"
        rss = " / ".join(f"{mb} MB" for mb in r["rss_mb"]) or "-"
        print(f"{r['case']:<32} {r['rate']:>7,.0f} {r['seconds']:>8.1f}s {sending:>14} {r['received']:>10,} "
              f"{r['extra']:>10,} {rss:>20} {r['load']:>5.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--workers", default="1,2", help="worker processes per run, e.g. 1,2")
    parser.add_argument("--no-reference", action="store_true", help="skip smtp-source")
    parser.add_argument("--stop-after", type=float, default=0,
                        help="kill a run's workers after this many seconds and report the part sent")
    parser.add_argument("--reference-messages", type=int, default=0,
                        help="smtp-source sends this many messages (default: as many as the run)")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not os.environ.get("REDIS_URL"):
        print("skipped: set DATABASE_URL (PostgreSQL) and REDIS_URL: this bench measures the production setup")
        return
    if not (os.path.exists(SMTP_SINK) and os.path.exists(SMTP_SOURCE)):
        print("skipped: postfix's smtp-sink and smtp-source are needed: apt-get install postfix (see .ci/run)")
        return
    setup_django(database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    workdir = tempfile.mkdtemp(prefix="bench-scale-")
    Path(workdir).chmod(0o755)
    workers = [int(n) for n in args.workers.split(",")]
    print(f"database: {database_url.split('@')[-1]}, Redis: {os.environ['REDIS_URL'].split('@')[-1]}; "
          f"{os.cpu_count()} CPUs; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    everything = {}
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            results = []
            for n in workers:
                result = mailing_run(size, n, workdir, database_url, args.stop_after)
                print(f"{size:,}, {result['case']}: {json.dumps(result)}", flush=True)
                assert result["extra"] == 0, result
                if not result["status"].startswith("stopped"):
                    assert result["status"] == "success" and result["sent"] == size, result
                    assert result["received"] == size, result
                results.append(result)
            if not args.no_reference:
                for sessions in sorted({1, max(workers)}):
                    result = smtp_source(args.reference_messages or size, sessions, workdir, size)
                    print(f"{size:,}, {result['case']}: {json.dumps(result)}", flush=True)
                    results.append(result)
            everything[size] = results
            print_table(size, results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nall sizes:")
    for size, results in everything.items():
        print_table(size, results)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
