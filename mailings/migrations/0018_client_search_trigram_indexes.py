"""Trigram indexes for the client search (the changelist's ``?q=``), PostgreSQL only.

The admin searches ``email`` and ``full_name`` with ``icontains``, which Django writes on
PostgreSQL as ``UPPER("column"::text) LIKE UPPER('%term%')``: a B-tree cannot serve a
pattern with a leading %, so a search read every client (about 3 s at a million). A GIN
index of pg_trgm trigrams on exactly that expression serves it (a term of three characters
or more), with the same results. Built CONCURRENTLY, so the table stays writable meanwhile.
SQLite has no pg_trgm: there the migration does nothing.

The indexes only make the search faster, so when pg_trgm cannot be created (the app's role
lacks CREATE on the database, or the server has no contrib package) the migration skips
them and says what a superuser runs to add them; the search works the same, only slower.
An index left INVALID by an interrupted concurrent build (a dropped connection) is built
again, not kept: IF NOT EXISTS alone would keep it, and the planner never uses it.
"""
import sys

from django.db import DatabaseError, migrations, transaction

TABLE = "mailings_client"
INDEXES = {  # name: the expression Django's icontains compares
    "mailings_client_email_trgm": 'UPPER("email"::text)',
    "mailings_client_full_name_trgm": 'UPPER("full_name"::text)',
}
CREATE_EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_trgm"


def index_sql(name, expression):
    return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {TABLE} USING gin ({expression} gin_trgm_ops)"


def has_trigrams(schema_editor):
    """Whether pg_trgm is there, creating it if this role may; why not, on the console."""
    try:
        with transaction.atomic(using=schema_editor.connection.alias):  # a savepoint inside a test's transaction
            schema_editor.execute(CREATE_EXTENSION)
    except DatabaseError as error:
        statements = ";\n  ".join([CREATE_EXTENSION] + [index_sql(n, e) for n, e in INDEXES.items()])
        sys.stderr.write(
            f"\nmailings.0018: the pg_trgm extension could not be created ({str(error).strip()}); the client "
            f"search works without its trigram indexes, but reads every client. To add them, a superuser runs "
            f"in this database:\n  {statements};\n")
        return False
    return True


def drop_invalid(schema_editor, name):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
        row = cursor.fetchone()
    if row and row[0]:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql" or not has_trigrams(schema_editor):
        return
    for name, expression in INDEXES.items():
        drop_invalid(schema_editor, name)
        schema_editor.execute(index_sql(name, expression))


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
