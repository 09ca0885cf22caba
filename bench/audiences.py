"""Audiences benchmark: one owner, N clients in 10 lists, on PostgreSQL.

    BENCH_DATABASE_URL=postgres://... .venv/bin/python bench/audiences.py [--rows 100000]

Each figure is printed beside a reference measured in the same run:
- import of N rows into a list (mailings.importing with client_list) — rows/s, peak RSS;
  reference: the same import without a list;
- "add all N matching to a list" (mailings.lists.add_to_list on the whole queryset);
  reference: a plain INSERT … SELECT of the same ids into the membership table;
- starting a run of a mailing to an N-member list (scheduling.claim_scheduled_run, which
  calls mailings.audience.insert_recipients); reference: a plain INSERT … SELECT of N
  Delivery rows from the client table;
- the client changelist filtered by one list, page 1 and a late page: p95 over 20 loads
  and the number of queries.
The benchmark's user and its rows are deleted at the end.
"""
import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OWNER = "bench-audiences@example.com"


def setup_django(workdir):
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-key-0123456789-0123456789-0123456789")
    os.environ.setdefault("CACHE_DIR", str(Path(workdir) / "cache"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label, func, reference_label=None, reference=None):
    started = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - started
    line = f"{label}: {elapsed:.2f} s"
    if reference:
        ref_started = time.perf_counter()
        reference()
        line += f"   (reference, {reference_label}: {time.perf_counter() - ref_started:.2f} s)"
    print(line, flush=True)
    return result, elapsed


def write_csv(path, rows, prefix):
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("email;full_name\r\n")
        for i in range(rows):
            out.write(f"{prefix}{i}@example.com;Клиент {i}\r\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    n = args.rows
    with tempfile.TemporaryDirectory() as workdir:
        setup_django(workdir)
        run(n, Path(workdir))


def run(n, workdir):
    from django.db import connection
    from django.conf import settings
    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from backoffice.models import User
    from mailings import importing, lists, scheduling
    from mailings.models import Client, ClientList, Delivery, Mailing, Message

    print(f"database: {connection.vendor}; N = {n:,}", flush=True)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    User.objects.filter(email__in=[OWNER, "ref-" + OWNER]).delete()  # left by an interrupted run
    owner = User.objects.create_user(
        email=OWNER, password="bench-pass-2026-x", is_staff=True, email_verified_at=timezone.now()
    )
    from django.contrib.auth.models import Group

    owner.groups.add(Group.objects.get(name="Users"))
    reference_owner = User.objects.create_user(email="ref-" + OWNER, password=None)
    try:
        # 1. Import into a list, next to the same import without a list.
        csv_path, ref_path = workdir / "list.csv", workdir / "ref.csv"
        write_csv(csv_path, n, "c")
        write_csv(ref_path, n, "r")
        everyone = ClientList.objects.create(owner=owner, name="Everyone (import)")
        before = rss_mb()
        with open(csv_path, "rb") as file:
            started = time.perf_counter()
            report = importing.import_clients(owner=owner, file=file, client_list=everyone)
            elapsed = time.perf_counter() - started
        print(f"import into a list: {report.created:,} rows in {elapsed:.1f} s = {n / elapsed:,.0f} rows/s, "
              f"peak RSS {rss_mb():.0f} MB (before: {before:.0f} MB)", flush=True)
        with open(ref_path, "rb") as file:
            started = time.perf_counter()
            importing.import_clients(owner=reference_owner, file=file)
            elapsed = time.perf_counter() - started
        print(f"   reference, the same import without a list: {n / elapsed:,.0f} rows/s", flush=True)

        # 2. Nine more lists of N/10 each (list k: clients with id % 10 == k), then "add all N".
        members = Client.lists.through._meta.db_table
        client_table = Client._meta.db_table
        for k in range(1, 10):
            small = ClientList.objects.create(owner=owner, name=f"Tenth {k}")
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {members} (client_id, clientlist_id) SELECT id, %s FROM {client_table} "
                    "WHERE owner_id = %s AND id %% 10 = %s", [small.pk, owner.pk, k],
                )
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

        # 3. Start a run of a mailing to the N-member list.
        message = Message.objects.create(owner=owner, subject="Bench", body="<p>x</p>")
        now = timezone.now()
        mailing = Mailing.objects.create(owner=owner, message=message, start_at=now, next_run_at=now, name="Bench")
        mailing.lists.set([target])
        reference_mailing = Mailing.objects.create(owner=owner, message=message, start_at=now, name="Ref")
        reference_attempt = reference_mailing.attempts.create(kind="test", scheduled_for=now)

        def plain_deliveries():
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {Delivery._meta.db_table} (attempt_id, client_id, email, status, skip_reason, "
                    f"smtp_response, tries) SELECT %s, id, email, 'pending', '', '', 0 FROM {client_table} "
                    "WHERE owner_id = %s", [reference_attempt.pk, owner.pk],
                )
        attempt, _t = timed(f"start a run for a {n:,}-member list (deliveries created)",
                            lambda: scheduling.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now()),
                            "plain INSERT … SELECT of the deliveries", plain_deliveries)
        assert attempt.recipients == n, attempt.recipients

        # 4. The changelist filtered by one list (N/10 members), page 1 and a late page.
        browser = HttpClient()
        browser.force_login(owner, backend="backoffice.backends.EmailBackend")
        tenth = ClientList.objects.get(owner=owner, name="Tenth 1")
        from mailings.admin.base import EstimatedCountPaginator

        def last_page(client_list):  # as the changelist's paginator sees it (an estimate above 10,000)
            return EstimatedCountPaginator(Client.objects.filter(owner=owner, lists=client_list), 50).num_pages

        for label, query in [("page 1", f"?list={tenth.pk}"), ("late page", f"?list={tenth.pk}&p={last_page(tenth) - 1}"),
                             ("all-N list, late page", f"?list={target.pk}&p={last_page(target) - 1}")]:
            url = reverse("admin:mailings_client_changelist") + query
            times = []
            for _ in range(20):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = browser.get(url)
                    times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code
            p95 = statistics.quantiles(times, n=20)[-1]
            print(f"changelist filtered by list, {label}: p95 {p95:.0f} ms, median {statistics.median(times):.0f} ms, "
                  f"{len(queries)} queries", flush=True)
    finally:
        Delivery.objects.filter(attempt__mailing__owner__in=[owner, reference_owner]).delete()
        Mailing.objects.filter(owner__in=[owner, reference_owner]).delete()
        Message.objects.filter(owner__in=[owner, reference_owner]).delete()
        User.objects.filter(pk__in=[owner.pk, reference_owner.pk]).delete()


if __name__ == "__main__":
    main()
