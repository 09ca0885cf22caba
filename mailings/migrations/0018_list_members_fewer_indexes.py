"""List memberships lose the two single-column indexes Django gave the through table's keys.

Each is the leading column of a composite index the table keeps: ``client_id`` of the
unique (client, list) constraint, ``clientlist_id`` of the (list, client) index of 0015. A
look-up by either column uses the composite one (a B-tree serves any prefix of its columns),
so the two only cost writes: an import of 1,000,000 clients into a list maintained five
indexes per membership, now three (docs/benchmarks.md). The auto-created through table has
no Meta of its own, hence SQL; the names are Django's (the same on SQLite and PostgreSQL).
"""
from django.db import migrations

TABLE = "mailings_client_lists"
INDEXES = {
    "mailings_client_lists_client_id_da5ec389": "client_id",
    "mailings_client_lists_clientlist_id_4a995b7d": "clientlist_id",
}


def _concurrently(schema_editor):
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def drop(apps, schema_editor):
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX {_concurrently(schema_editor)}IF EXISTS {name}")


def create(apps, schema_editor):
    for name, column in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX {_concurrently(schema_editor)}IF NOT EXISTS {name} ON {TABLE} ({column})")


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("mailings", "0017_delivery_fewer_indexes"),
    ]

    operations = [migrations.RunPython(drop, create)]
