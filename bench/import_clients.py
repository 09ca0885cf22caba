"""Client import benchmark: the admin's import path next to django-import-export's default.

    .venv/bin/python bench/import_clients.py [--rows 100000] [--reference-rows 10000]

Generates a CSV of ``--rows`` clients (UTF-8, ";" delimiter, as Excel in a Russian locale
saves it), imports it with ``mailings.importing.import_clients`` (what the admin's import
page calls) and prints rows/s and peak memory; then imports the first ``--reference-rows``
rows of the same file with the library's row-by-row ``Resource.import_data`` (the
reference; it is slow, hence a sample by default, ``--reference-rows 0`` means all rows).

Runs against a throw-away SQLite database unless BENCH_DATABASE_URL is set (e.g. a
PostgreSQL database of your own; the benchmark's users and clients are deleted at the end).
"""
import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(workdir):
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CACHE_DIR", str(Path(workdir) / "cache"))
    import django

    django.setup()
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
    from mailings.models import Client
    from mailings.resources import ClientResource

    class RowByRowClientResource(ClientResource):
        class Meta(ClientResource.Meta):
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reference-rows", type=int, default=10_000)
    parser.add_argument("--into-list", action="store_true", help="the first import puts every client in a new list")
    args = parser.parse_args()
    reference_rows = args.reference_rows or args.rows

    with tempfile.TemporaryDirectory() as workdir:
        setup_django(workdir)
        from django.db import connection

        from mailings.models import Client

        path = Path(workdir) / "clients.csv"
        size = write_csv(path, args.rows)
        print(f"database: {connection.vendor}; file: {args.rows} rows, {size / 1e6:.1f} MB")

        owner = fresh_owner("bench-fast@example.com")
        client_list = None
        if args.into_list:
            from mailings.models import ClientList

            client_list = ClientList.objects.create(owner=owner, name="Bench import")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report, elapsed = fast_import(path, owner, client_list)
        assert report.created == args.rows and report.error_count == 0, report
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        into = " into a list" if client_list else ""
        print(f"project import (new clients{into}): {args.rows / elapsed:10,.0f} rows/s  ({elapsed:.2f} s), "
              f"peak RSS {rss_mb:.0f} MB (before: {rss_before:.0f} MB); load average {os.getloadavg()[0]:.1f}")
        if connection.vendor == "postgresql":
            copy_seconds = plain_copy(path)
            print(f"   reference, plain COPY of the same file into a bare table: {args.rows / copy_seconds:10,.0f} rows/s "
                  f"({copy_seconds:.2f} s)")

        report, elapsed = fast_import(path, owner)
        assert report.unchanged == args.rows, report
        print(f"project import (all known again):  {args.rows / elapsed:10,.0f} rows/s  ({elapsed:.2f} s)")

        owner2 = fresh_owner("bench-memory@example.com")
        tracemalloc.start()
        fast_import(path, owner2)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"project import peak memory: Python allocations {peak / 1e6:.1f} MB (tracemalloc), "
              f"process peak RSS {rss_mb:.0f} MB after the first import (includes Django)")

        reference_owner = fresh_owner("bench-reference@example.com")
        elapsed = reference_import(path, reference_owner, reference_rows)
        print(f"django-import-export default import: {reference_rows / elapsed:8,.0f} rows/s  "
              f"({elapsed:.2f} s for the first {reference_rows} rows of the same file)")

        for email in ("bench-fast@example.com", "bench-memory@example.com", "bench-reference@example.com"):
            from backoffice.models import User
            from mailings.models import ClientList

            # Set-based: the ORM's cascade would load a million clients to delete them.
            members = Client.lists.through.objects.filter(clientlist__owner__email=email)
            members._raw_delete(members.db)
            ClientList.objects.filter(owner__email=email).delete()
            clients = Client.objects.filter(owner__email=email)
            clients._raw_delete(clients.db)
            User.objects.filter(email=email).delete()


if __name__ == "__main__":
    main()
