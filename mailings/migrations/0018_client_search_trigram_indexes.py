"""Trigram indexes for the client search (the changelist's ``?q=``), PostgreSQL only.

The admin searches ``email`` and ``full_name`` with ``icontains``, which Django writes on
PostgreSQL as ``UPPER("column"::text) LIKE UPPER('%term%')``: a B-tree cannot serve a
pattern with a leading %, so a search read every client (about 3 s at a million). A GIN
index of pg_trgm trigrams on exactly that expression serves it (a term of three characters
or more), with the same results. Built CONCURRENTLY, so the table stays writable meanwhile.
SQLite has no pg_trgm: there the migration does nothing.
"""
from django.db import migrations

TABLE = "mailings_client"
INDEXES = {  # name: the expression Django's icontains compares
    "mailings_client_email_trgm": 'UPPER("email"::text)',
    "mailings_client_full_name_trgm": 'UPPER("full_name"::text)',
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {TABLE} USING gin ({expression} gin_trgm_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("mailings", "0017_delivery_fewer_indexes"),
    ]

    operations = [migrations.RunPython(create, drop)]
