"""Client import benchmark: the admin's import path next to django-import-export's default.

    .venv/bin/python bench/import_clients.py [--rows 100000] [--reference-rows 10000] [--into-list]

Generates a CSV of ``--rows`` clients (UTF-8, ";" delimiter, as Excel in a Russian locale
saves it), imports it with ``mailings.importing.import_clients`` (what the admin's import
page calls) and prints rows/s and peak memory; then imports the first ``--reference-rows``
rows of the same file with the library's row-by-row ``Resource.import_data`` (the
reference; it is slow, hence a sample by default, ``--reference-rows 0`` means all rows).

Each project import runs in a fresh process of its own (this script with ``--child``), so
its peak RSS is the import's (Django included), not the generation of the file. On
PostgreSQL two references are measured in the same run: PostgreSQL's own COPY of the file
into a bare table, and the same rows written by plain SQL into the client table (and the
list) with no check at all (COPY, INSERT … SELECT): the floor the schema sets.

Runs against a throw-away SQLite database unless BENCH_DATABASE_URL is set (e.g. a
PostgreSQL database of your own; the benchmark's users and clients are deleted at the end).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(workdir, migrate=True):
    if "BENCH_SQLITE" not in os.environ:  # the file the child processes share with their parent
        os.environ["BENCH_SQLITE"] = f"{workdir}/bench.sqlite3"
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{os.environ['BENCH_SQLITE']}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CACHE_DIR", str(Path(workdir) / "cache"))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("email;full_name;comment\r\n")
        for i in range(rows):
            out.write(f"client{i}@example.com;Клиент Номер {i};импорт {i % 97}\r\n")
    return path.stat().st_size


def fresh_owner(email):
    from backoffice.models import User

    User.objects.filter(email=email).delete()
    return User.objects.create_user(email=email, password=None)


def fast_import(path, owner, client_list=None):
    from mailings.importing import import_clients

    with open(path, "rb") as file:
        started = time.perf_counter()
        report = import_clients(owner=owner, file=file, client_list=client_list)
        elapsed = time.perf_counter() - started
    return report, elapsed


def plain_copy(path):
    """Seconds of PostgreSQL's own COPY of the same file into a bare table of its three columns
    (no index, no constraint, no validation): the floor of writing these rows."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor, open(path, "rb") as file:
        started = time.perf_counter()
        cursor.execute("CREATE TEMPORARY TABLE bench_plain_copy (email varchar(254), full_name varchar(255), "
                       "comment text) ON COMMIT DROP")
        cursor.copy_expert("COPY bench_plain_copy FROM STDIN WITH (FORMAT csv, DELIMITER ';', HEADER true)", file)
    return time.perf_counter() - started


def reference_resource_class():
    """The library's row-by-row import of one owner's clients: the reference the project's
    import is measured against (kept here: the product imports through mailings.importing)."""
    from import_export import fields

    from mailings.models import Client
    from mailings.resources import ClientResource

    class RowByRowClientResource(ClientResource):
        # The file's header names (the export's columns are translated: "Почта"…).
        email = fields.Field(attribute="email", column_name="email")
        full_name = fields.Field(attribute="full_name", column_name="full_name")
        comment = fields.Field(attribute="comment", column_name="comment")

        class Meta(ClientResource.Meta):
            fields = ("email", "full_name", "comment")
            import_id_fields = ("email",)
            skip_unchanged = True

        def __init__(self, owner, **kwargs):
            super().__init__(**kwargs)
            self.owner = owner

        def get_queryset(self):
            """Rows are matched against the owner's clients only."""
            return Client.objects.filter(owner=self.owner)

        def before_import_row(self, row, **kwargs):
            if row.get("email"):
                row["email"] = Client.normalize_email(row["email"])

        def before_save_instance(self, instance, row, **kwargs):
            instance.owner = self.owner

    return RowByRowClientResource


def reference_import(path, owner, rows):
    import tablib

    started = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as file:
        lines = [next(file) for _ in range(rows + 1)]
    dataset = tablib.Dataset().load("".join(lines), format="csv", delimiter=";")
    resource = reference_resource_class()(owner=owner)
    result = resource.import_data(dataset, dry_run=False, raise_errors=True)
    elapsed = time.perf_counter() - started
    assert not result.has_errors() and not result.has_validation_errors()
    return elapsed


def plain_sql_write(path, owner, client_list):
    """Seconds of the same rows written by plain SQL, in one transaction: COPY into a
    temporary table, INSERT … SELECT into the client table, and with a list INSERT … SELECT of
    the new ids into the membership table; no validation, no duplicate or known-client
    check. Same indexes, same foreign keys (checked at commit) as the project's write."""
    from django.db import connection, transaction

    from mailings.models import Client

    client, members = Client._meta.db_table, Client.lists.through._meta.db_table
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor, open(path, "rb") as file:
        cursor.execute("CREATE TEMPORARY TABLE bench_plain_rows (email varchar(254), full_name varchar(255), "
                       "comment text) ON COMMIT DROP")
        cursor.copy_expert("COPY bench_plain_rows FROM STDIN WITH (FORMAT csv, DELIMITER ';', HEADER true)", file)
        insert = (f"INSERT INTO {client} (owner_id, email, full_name, comment, created_at, updated_at) "
                  "SELECT %s, email, full_name, comment, now(), now() FROM bench_plain_rows")
        if client_list is None:
            cursor.execute(insert, [owner.pk])
        else:
            cursor.execute(f"WITH new AS ({insert} RETURNING id) INSERT INTO {members} (client_id, clientlist_id) "
                           "SELECT id, %s FROM new", [owner.pk, client_list.pk])
    return time.perf_counter() - started


def child_import(args):
    """``--child``: one project import in this fresh process; prints its figures as JSON."""
    from backoffice.models import User
    from mailings.models import ClientList

    owner = User.objects.get(email=args.owner)
    client_list = ClientList.objects.get(pk=args.list_id) if args.list_id else None
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report, elapsed = fast_import(args.child, owner, client_list)
    print(json.dumps({
        "elapsed": elapsed, "created": report.created, "unchanged": report.unchanged, "errors": report.error_count,
        "rss_before": rss_before, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def import_in_child(path, owner, client_list=None):
    """The project's import of ``path`` in a fresh process (see ``child_import``)."""
    command = [sys.executable, __file__, "--child", str(path), "--owner", owner.email]
    if client_list is not None:
        command += ["--list-id", str(client_list.pk)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ)
    return json.loads(done.stdout.strip().splitlines()[-1])


def clean_up(emails):
    """Delete the benchmark's rows set-based (the ORM's cascade would load a million clients)."""
    from django.db import connection

    from backoffice.models import User
    from mailings.models import Client, ClientList

    with connection.cursor() as cursor:  # fresh statistics: stale ones planned a nested loop over 1,000,000 rows
        cursor.execute(f"ANALYZE {Client._meta.db_table}")
        cursor.execute(f"ANALYZE {Client.lists.through._meta.db_table}")
    for email in emails:
        members = Client.lists.through.objects.filter(clientlist__owner__email=email)
        members._raw_delete(members.db)
        ClientList.objects.filter(owner__email=email).delete()
        clients = Client.objects.filter(owner__email=email)
        clients._raw_delete(clients.db)
        User.objects.filter(email=email).delete()


OWNERS = ("bench-fast@example.com", "bench-memory@example.com", "bench-reference@example.com",
          "bench-plain@example.com")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reference-rows", type=int, default=10_000)
    parser.add_argument("--into-list", action="store_true", help="the first import puts every client in a new list")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a file to import in this process
    parser.add_argument("--owner", help=argparse.SUPPRESS)
    parser.add_argument("--list-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as workdir:
            setup_django(workdir, migrate=False)
            child_import(args)
        return
    reference_rows = args.reference_rows or args.rows

    with tempfile.TemporaryDirectory() as workdir:
        setup_django(workdir)
        from django.db import connection

        from mailings.models import ClientList

        path = Path(workdir) / "clients.csv"
        size = write_csv(path, args.rows)
        print(f"database: {connection.vendor}; file: {args.rows} rows, {size / 1e6:.1f} MB; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        clean_up(OWNERS)  # left by an interrupted run
        try:
            owner = fresh_owner(OWNERS[0])
            client_list = ClientList.objects.create(owner=owner, name="Bench import") if args.into_list else None
            if connection.vendor == "sqlite":
                connection.close()  # the child writes to the same SQLite file
            result = import_in_child(path, owner, client_list)
            assert result["created"] == args.rows and result["errors"] == 0, result
            elapsed = result["elapsed"]
            into = " into a list" if client_list else ""
            print(f"project import (new clients{into}): {args.rows / elapsed:10,.0f} rows/s  ({elapsed:.2f} s), "
                  f"peak RSS of the importing process {result['rss']:.0f} MB ({result['rss_before']:.0f} MB "
                  f"before the import); load average {os.getloadavg()[0]:.1f}", flush=True)
            if connection.vendor == "postgresql":
                copy_seconds = plain_copy(path)
                print(f"   reference, plain COPY of the same file into a bare table: {args.rows / copy_seconds:10,.0f} "
                      f"rows/s ({copy_seconds:.2f} s)", flush=True)
                plain_owner = fresh_owner(OWNERS[3])
                plain_list = ClientList.objects.create(owner=plain_owner, name="Bench plain") if args.into_list else None
                plain_seconds = plain_sql_write(path, plain_owner, plain_list)
                print(f"   reference, the same rows by plain SQL into the client table{into} (COPY, INSERT … SELECT, "
                      f"same indexes and foreign keys, no check): {args.rows / plain_seconds:10,.0f} rows/s "
                      f"({plain_seconds:.2f} s); load average {os.getloadavg()[0]:.1f}", flush=True)

            result = import_in_child(path, owner)
            assert result["unchanged"] == args.rows, result
            elapsed = result["elapsed"]
            print(f"project import (all known again):  {args.rows / elapsed:10,.0f} rows/s  ({elapsed:.2f} s)",
                  flush=True)

            owner2 = fresh_owner(OWNERS[1])
            tracemalloc.start()
            fast_import(path, owner2)
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"project import peak memory: Python allocations {peak / 1e6:.1f} MB (tracemalloc)", flush=True)

            reference_owner = fresh_owner(OWNERS[2])
            elapsed = reference_import(path, reference_owner, reference_rows)
            print(f"django-import-export default import: {reference_rows / elapsed:8,.0f} rows/s  "
                  f"({elapsed:.2f} s for the first {reference_rows} rows of the same file)", flush=True)
        finally:
            clean_up(OWNERS)


if __name__ == "__main__":
    main()
