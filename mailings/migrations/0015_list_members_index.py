"""An index of list memberships by (list, client).

The client changelist filtered by a list, its bounded count and "remove from a list" read a
list's members: with this index they are an index-only range of one list, already in client
order (a merge join with the client table), instead of a heap fetch per member through the
single-column index. The auto-created through table has no Meta of its own, hence SQL; on
PostgreSQL the index is built CONCURRENTLY, so a million memberships stay writable meanwhile.
"""
from django.db import migrations

INDEX = "mailings_client_lists_list_client_idx"
TABLE = "mailings_client_lists"


def create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {INDEX} ON {TABLE} (clientlist_id, client_id)")


def drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("mailings", "0014_returned_status_labels"),
    ]

    operations = [migrations.RunPython(create, drop)]
