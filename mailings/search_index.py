"""Optional trigram indexes for the client search (the changelist's ``?q=``), PostgreSQL only.

The admin searches ``email`` and ``full_name`` with ``icontains``, which Django writes on
PostgreSQL as ``UPPER("column"::text) LIKE UPPER('%term%')``: a B-tree cannot serve a
pattern with a leading %, so a search reads every client of the owner (some 0.1 s at 200,000
clients, seconds at a million). A GIN index of pg_trgm trigrams on exactly that expression
serves it (a term of three characters or more) with the same results: 10 ms at 200,000.

Why they are not made by a migration: every new client then costs its trigrams in two GIN
indexes, about 20 µs a row, which took the import of a million clients into a list from
~30,000 to ~22,000 rows/s (docs/benchmarks.md). An owner with a large audience who searches
more than they import turns them on with ``manage.py client_search_index``; ``--drop``
removes them. They are built CONCURRENTLY, so the table stays writable meanwhile.

When pg_trgm cannot be created (the app's role lacks CREATE on the database, or the server
has no contrib package) nothing is built, and the statements a superuser runs are returned.
An index left INVALID by an interrupted concurrent build is built again, not kept: IF NOT
EXISTS alone would keep it, and the planner never uses it.
"""
from django.db import DatabaseError, transaction

TABLE = "mailings_client"
INDEXES = {  # name: the expression Django's icontains compares
    "mailings_client_email_trgm": 'UPPER("email"::text)',
    "mailings_client_full_name_trgm": 'UPPER("full_name"::text)',
}
CREATE_EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_trgm"


class CannotIndex(Exception):
    """The indexes cannot be built by this role or on this database; says what to do."""


def index_sql(name, expression):
    return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {TABLE} USING gin ({expression} gin_trgm_ops)"


def superuser_statements():
    return ";\n".join([CREATE_EXTENSION] + [index_sql(name, expr) for name, expr in INDEXES.items()]) + ";"


def _ensure_extension(connection):
    try:
        with transaction.atomic(using=connection.alias):  # a savepoint when already in a transaction
            with connection.cursor() as cursor:
                cursor.execute(CREATE_EXTENSION)
    except DatabaseError as error:
        raise CannotIndex(str(error).strip()) from error


def _drop_invalid(cursor, name):
    cursor.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
    row = cursor.fetchone()
    if row and row[0]:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def create(connection):
    """Build the indexes on PostgreSQL (outside a transaction: CONCURRENTLY); raises ``CannotIndex``."""
    _ensure_extension(connection)
    with connection.cursor() as cursor:
        for name, expression in INDEXES.items():
            _drop_invalid(cursor, name)
            cursor.execute(index_sql(name, expression))


def drop(connection):
    with connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def present(connection):
    """The names of the search indexes that exist and are valid."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "WHERE c.relname = ANY(%s) AND i.indisvalid ORDER BY c.relname", [list(INDEXES)])
        return [row[0] for row in cursor.fetchall()]
