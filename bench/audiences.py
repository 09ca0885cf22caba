"""Audiences benchmark: one owner, N clients in 10 lists, on PostgreSQL.

    BENCH_DATABASE_URL=postgres://... .venv/bin/python bench/audiences.py [--rows 1000000] [--import-rows 100000]
    BENCH_DATABASE_URL=postgres://... .venv/bin/python bench/audiences.py --rows 1000000 --only run-start

The owner gets N clients: ``--import-rows`` of them imported from a CSV (the import is
measured), the rest generated with one INSERT … SELECT generate_series (PostgreSQL; on
SQLite all N are imported). Each figure is printed beside a reference measured in the same
run:
- import of the CSV rows into a list (mailings.importing with client_list) — rows/s, peak
  RSS; reference: the same import without a list;
- "add all N matching to a list" (mailings.lists.add_to_list on the whole queryset);
  reference: a plain INSERT … SELECT of the same ids into the membership table;
- the same "add all N" in the worker's way (mailings.lists.fill_list: id-range batches);
- starting a run of a mailing to the 10 lists (N recipients; runs.claim.claim_scheduled_run,
  which calls mailings.audience.insert_recipients) and of one to a single list (N/10), each
  in a fresh worker process whose peak RSS is printed; references: a plain INSERT … SELECT of
  N Delivery rows from the client table, and the same into a bare table of the same columns
  (``measure_run_start``);
- the client changelist unfiltered and filtered by a list of N/10 and one of N: page 1, the
  page before the last, the last and a middle page: p95 over 20 loads and the number of
  queries; references: the plain OFFSET query of the same rows, and page 1 of an owner with
  60 clients (what rendering 50 rows costs on the machine at that moment);
- "create a mailing" for "all N matching" (the request, then the worker's job with the
  arguments the request queued, Python's peak allocation during it); reference: a plain
  INSERT … SELECT of the same ids.
The benchmark's user and its rows are deleted at the end.

    BENCH_DATABASE_URL=postgres://... .venv/bin/python bench/audiences.py --rows 1000000 --only changelist --keep

measures only the changelist and its bulk action, on N clients generated in PostgreSQL and
kept for the next such run (the generation of a million takes minutes on a loaded machine);
``--only run-start`` measures only the start of runs.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from audiences_changelist import measure_changelist, measure_create_mailing, run_changelist_only
from audiences_common import OWNER, clean_up, generate_clients, rss_mb, setup_django, timed, write_csv


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--only", choices=["changelist", "run-start"],
                        help="changelist: only the changelist and its bulk action; "
                             "run-start: generate the N clients in SQL and measure only the start of runs")
    parser.add_argument("--keep", action="store_true", help="with --only changelist: keep the N clients for next time")
    parser.add_argument("--start-run", type=int, help=argparse.SUPPRESS)  # the worker of measure_run_start
    args = parser.parse_args()
    if args.start_run:
        return start_run(args.start_run)
    with tempfile.TemporaryDirectory() as workdir:
        setup_django(workdir)
        if args.only == "changelist":
            run_changelist_only(args.rows, args.keep)
        else:
            run(args.rows, min(args.import_rows, args.rows), Path(workdir), args.only)


def make_ten_lists(owner):
    """Ten lists of the owner's clients, list k holding the clients whose id % 10 == k."""
    from django.db import connection

    from mailings.models import Client, ClientList

    members, client_table = Client.lists.through._meta.db_table, Client._meta.db_table
    for k in range(0, 10):
        small = ClientList.objects.create(owner=owner, name=f"Tenth {k}")
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {members} (client_id, clientlist_id) SELECT id, %s FROM {client_table} "
                "WHERE owner_id = %s AND id %% 10 = %s", [small.pk, owner.pk, k],
            )
            cursor.execute(f"ANALYZE {members}")


def run(n, imported, workdir, only=None):
    from django.db import connection
    from django.conf import settings
    from django.utils import timezone

    from backoffice.models import User
    from mailings import importing, lists
    from mailings.models import Client, ClientList

    if connection.vendor != "postgresql":
        imported = n
    print(f"database: {connection.vendor}; N = {n:,} ({imported:,} imported); "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    clean_up(list(User.objects.filter(email__in=[OWNER, "ref-" + OWNER]).values_list("pk", flat=True)) or [0])
    owner = User.objects.create_user(
        email=OWNER, password="bench-pass-2026-x", is_staff=True, email_verified_at=timezone.now()
    )
    from django.contrib.auth.models import Group

    owner.groups.add(Group.objects.get(name="Users"))
    reference_owner = User.objects.create_user(email="ref-" + OWNER, password=None)
    try:
        if only == "run-start":
            if connection.vendor != "postgresql":
                raise SystemExit("--only run-start generates its clients with generate_series: PostgreSQL only")
            timed(f"generate {n:,} clients (INSERT … SELECT generate_series)", lambda: generate_clients(owner, n, 0))
            make_ten_lists(owner)
            measure_run_start(owner, n)
            return
        # 1. Import into a list, next to the same import without a list.
        csv_path, ref_path = workdir / "list.csv", workdir / "ref.csv"
        write_csv(csv_path, imported, "c")
        write_csv(ref_path, imported, "r")
        everyone = ClientList.objects.create(owner=owner, name="Everyone (import)")
        before = rss_mb()
        with open(csv_path, "rb") as file:
            started = time.perf_counter()
            report = importing.import_clients(owner=owner, file=file, client_list=everyone)
            elapsed = time.perf_counter() - started
        print(f"import into a list: {report.created:,} rows in {elapsed:.1f} s = {imported / elapsed:,.0f} rows/s, "
              f"peak RSS {rss_mb():.0f} MB (before: {before:.0f} MB)", flush=True)
        with open(ref_path, "rb") as file:
            started = time.perf_counter()
            importing.import_clients(owner=reference_owner, file=file)
            elapsed = time.perf_counter() - started
        print(f"   reference, the same import without a list: {imported / elapsed:,.0f} rows/s", flush=True)
        if n > imported:
            timed(f"generate {n - imported:,} more clients (INSERT … SELECT generate_series)",
                  lambda: generate_clients(owner, n - imported, imported))

        # 2. Ten lists of N/10 each (list k: clients with id % 10 == k), then "add all N".
        members = Client.lists.through._meta.db_table
        client_table = Client._meta.db_table
        make_ten_lists(owner)
        target = ClientList.objects.create(owner=owner, name="All, added by the action")
        reference_list = ClientList.objects.create(owner=owner, name="All, plain SQL")
        everything = Client.objects.filter(owner=owner)

        def plain_insert():
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {members} (client_id, clientlist_id) SELECT id, %s FROM {client_table} "
                    "WHERE owner_id = %s", [reference_list.pk, owner.pk],
                )
        added, _t = timed(f"add all {n:,} matching to a list (add_to_list)", lambda: lists.add_to_list(everything, target),
                          "plain INSERT … SELECT", plain_insert)
        assert added == n, added
        worker_list = ClientList.objects.create(owner=owner, name="All, added by the worker")
        added, _t = timed(f"add all {n:,} matching to a list in the worker's batches (fill_list)",
                          lambda: lists.fill_list(worker_list.pk, *lists._ids_sql(everything, worker_list)))
        assert added == n, added

        # 3. Start a run of a mailing to the N-member list (and to one list of N/10).
        measure_run_start(owner, n)

        # 4. The changelist (page 1, late pages) and "create a mailing" for all N matching.
        measure_changelist(owner, ClientList.objects.get(owner=owner, name="Tenth 1"), target)
        measure_create_mailing(owner)
    finally:
        clean_up([owner.pk, reference_owner.pk])


RUN_START_ROUNDS = 2  # interleaved rounds (run start, references); the median is printed


def measure_run_start(owner, n):
    """Start runs of a mailing to the 10 lists (N recipients) and of one to a single list
    (N/10), each in a fresh worker process (its peak RSS printed), next to two references
    written in the same transaction shape: a plain INSERT … SELECT of the owner's N clients
    into the Delivery table (same indexes and constraints) and into a bare table of the same
    columns (no index, no constraint). Rounds interleave them; the deliveries are removed
    between rounds."""
    from django.db import connection, transaction
    from django.utils import timezone

    from mailings.models import Client, ClientList, Delivery, Mailing, Message

    message = Message.objects.create(owner=owner, subject="Bench", body="<p>x</p>")
    now = timezone.now()
    tenths = ClientList.objects.filter(owner=owner, name__startswith="Tenth ")
    everyone = Mailing.objects.create(owner=owner, message=message, start_at=now, name="Bench, 10 lists")
    everyone.lists.set(tenths)
    one_list = Mailing.objects.create(owner=owner, message=message, start_at=now, name="Bench, 1 list")
    one_list.lists.set(tenths[:1])
    reference_mailing = Mailing.objects.create(owner=owner, message=message, start_at=now, name="Ref")
    delivery, client = Delivery._meta.db_table, Client._meta.db_table
    columns = "attempt_id, client_id, email, status, skip_reason, smtp_response, tries"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_bare_delivery")
        # Same columns and types, no index, no constraint, no default (the id stays NULL).
        cursor.execute(f"CREATE TABLE bench_bare_delivery AS SELECT * FROM {delivery} WHERE 1 = 0")
        cursor.execute(f"ANALYZE {delivery}")

    def plain(table):
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            attempt = reference_mailing.attempts.create(kind="test", scheduled_for=timezone.now())
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT %s, id, email, 'pending', '', '', 0 "
                           f"FROM {client} WHERE owner_id = %s", [attempt.pk, owner.pk])
            assert cursor.rowcount == n, cursor.rowcount
        return time.perf_counter() - started

    def forget_runs():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {delivery} WHERE attempt_id IN (SELECT a.id FROM mailings_attempt a "
                           "JOIN mailings_mailing m ON m.id = a.mailing_id WHERE m.owner_id = %s)", [owner.pk])
            cursor.execute("DELETE FROM bench_bare_delivery")
            cursor.execute("DELETE FROM mailings_attempt WHERE mailing_id IN (SELECT id FROM mailings_mailing "
                           "WHERE owner_id = %s)", [owner.pk])
            if connection.vendor == "postgresql":
                cursor.execute(f"VACUUM {delivery}")

    figures = {key: [] for key in ("run", "rss", "small", "small_rss", "plain", "bare")}
    for round_number in range(RUN_START_ROUNDS):
        forget_runs()
        for key, mailing, expected in (("run", everyone, n), ("small", one_list, n // 10)):
            # Due again (a claimed one-off run completes the mailing).
            Mailing.objects.filter(pk=mailing.pk).update(next_run_at=timezone.now(), status="created")
            worker = start_run_in_worker(mailing.pk)
            assert worker["recipients"] == expected, (worker, expected)
            figures[key].append(worker["seconds"])
            figures[{"run": "rss", "small": "small_rss"}[key]].append(worker["peak_rss_mb"])
        figures["plain"].append(plain(delivery))
        figures["bare"].append(plain("bench_bare_delivery"))
        print(f"   round {round_number + 1}: run {figures['run'][-1]:.1f} s, plain INSERT … SELECT "
              f"{figures['plain'][-1]:.1f} s, into a bare table {figures['bare'][-1]:.1f} s; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
    median = {key: statistics.median(values) for key, values in figures.items()}
    print(f"start a run for 10 lists, {n:,} recipients (deliveries created, claim_scheduled_run in a worker): "
          f"{median['run']:.1f} s median of {RUN_START_ROUNDS}, worker peak RSS {median['rss']:.0f} MB", flush=True)
    print(f"   same for one list, {n // 10:,} recipients: {median['small']:.1f} s, "
          f"worker peak RSS {median['small_rss']:.0f} MB", flush=True)
    print(f"   reference, plain INSERT … SELECT of {n:,} deliveries (same table, indexes, constraints): "
          f"{median['plain']:.1f} s; into a bare table of the same columns: {median['bare']:.1f} s", flush=True)
    forget_runs()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_bare_delivery")


def start_run_in_worker(mailing_id):
    """Claim the mailing's due run in a fresh process, as a worker would; its time and peak RSS."""
    import json
    import subprocess

    output = subprocess.run(
        [sys.executable, __file__, "--start-run", str(mailing_id)], check=True, capture_output=True, text=True,
        env={**os.environ, "DATABASE_URL": os.environ["DATABASE_URL"]},
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def start_run(mailing_id):
    """The worker side of start_run_in_worker (``--start-run ID``)."""
    import json

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-key-0123456789-0123456789-0123456789")
    django.setup()
    from django.utils import timezone

    from mailings.runs import claim

    started = time.perf_counter()
    attempt = claim.claim_scheduled_run(mailing_id=mailing_id, now=timezone.now())
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "recipients": attempt.recipients, "peak_rss_mb": rss_mb()}))


if __name__ == "__main__":
    main()
