"""The optional trigram indexes of the client search (``manage.py client_search_index``,
mailings/search_index.py): the changelist's search uses them once built; a role that may not
create pg_trgm is told what a superuser runs; an index left invalid is built again."""
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailings import search_index
from mailings.models import Client

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")


@pytest.mark.skipif(connection.vendor == "postgresql", reason="what another database is told")
@pytest.mark.django_db
def test_on_another_database_the_command_says_the_indexes_are_postgresqls():
    for arguments in ((), ("--drop",)):
        with pytest.raises(CommandError) as refused:
            call_command("client_search_index", *arguments)
        assert str(refused.value) == "Индексы поиска по клиентам есть только в PostgreSQL (pg_trgm), а эта база — SQLite."


def fetch(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.fixture
def indexes():
    call_command("client_search_index")
    yield
    call_command("client_search_index", "--drop")


@postgresql_only
@pytest.mark.django_db(transaction=True)  # CREATE INDEX CONCURRENTLY runs outside a transaction
def test_the_search_uses_the_indexes_once_built(client, superuser, alice, indexes):
    """``?q=`` (icontains: UPPER(column::text) LIKE …) matches the indexes' expression. With
    plain and index scans ruled out, the only plan left that is not a sequential scan is a
    bitmap scan of those indexes; a tiny table would otherwise be read sequentially."""
    Client.objects.bulk_create(Client(owner=alice, email=f"c{i:04d}@example.net") for i in range(100))
    client.force_login(superuser, backend="backoffice.backends.EmailBackend")  # no owner condition
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:mailings_client_changelist") + "?q=c0042")
    assert response.status_code == 200 and "c0042@example.net" in response.content.decode()
    page_query = next(q["sql"] for q in queries.captured_queries
                      if q["sql"].startswith('SELECT "mailings_client"."id", ') and "LIKE" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + page_query)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("ROLLBACK")
    assert "Bitmap Index Scan on mailings_client_email_trgm" in plan, plan
    assert "Bitmap Index Scan on mailings_client_full_name_trgm" in plan, plan


@postgresql_only
@pytest.mark.django_db  # the test's transaction undoes the drop, the role and the SET ROLE
def test_a_role_that_may_not_create_pg_trgm_is_told_what_a_superuser_runs(client, superuser, alice):
    Client.objects.create(owner=alice, email="findme@example.org")
    role = f"no_create_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute("DROP EXTENSION IF EXISTS pg_trgm CASCADE")  # a fresh database: no extension
        cursor.execute(f"CREATE ROLE {role}")  # no CREATE on the database: pg_trgm is out of reach
        cursor.execute(f"SET ROLE {role}")
    with pytest.raises(CommandError) as refused:
        call_command("client_search_index")
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE INDEX CONCURRENTLY" in str(refused.value)
    assert search_index.present(connection) == []
    client.force_login(superuser, backend="backoffice.backends.EmailBackend")
    response = client.get(reverse("admin:mailings_client_changelist") + "?q=findme")
    assert response.status_code == 200 and "findme@example.org" in response.content.decode()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_an_index_left_invalid_by_a_cut_off_build_is_built_again(indexes):
    with connection.cursor() as cursor:  # what a concurrent build leaves when its connection drops
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'mailings_client_email_trgm'::regclass")
    assert search_index.present(connection) == ["mailings_client_full_name_trgm"]
    call_command("client_search_index")
    assert search_index.present(connection) == ["mailings_client_email_trgm", "mailings_client_full_name_trgm"]
