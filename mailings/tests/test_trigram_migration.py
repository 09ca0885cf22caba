"""Migration 0018 (trigram indexes for the client search) on a PostgreSQL where the app's role
may not create pg_trgm, and after a concurrent build that was cut off: the migration neither
stops the deployment nor keeps an index the planner never uses; the search works either way."""
import importlib
import uuid

import pytest
from django.db import connection
from django.urls import reverse

from mailings.models import Client

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
migration = importlib.import_module("mailings.migrations.0018_client_search_trigram_indexes")


def run_migration():
    with connection.schema_editor(atomic=False) as editor:
        migration.create(None, editor)


def fetch(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.mark.django_db  # the test's transaction undoes the drop, the role and the SET ROLE
def test_a_role_that_may_not_create_pg_trgm_migrates_without_the_indexes(client, superuser, alice, capsys):
    Client.objects.create(owner=alice, email="findme@example.org")
    role = f"no_create_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute("DROP EXTENSION pg_trgm CASCADE")  # a fresh database: no extension, no indexes
        cursor.execute(f"CREATE ROLE {role}")  # no CREATE on the database: pg_trgm is out of reach
        cursor.execute(f"SET ROLE {role}")
    run_migration()
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    assert "a superuser runs in this database:\n  CREATE EXTENSION IF NOT EXISTS pg_trgm;" in capsys.readouterr().err
    assert fetch("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", ["%trgm"]) == []
    client.force_login(superuser, backend="backoffice.backends.EmailBackend")
    response = client.get(reverse("admin:mailings_client_changelist") + "?q=findme")
    assert response.status_code == 200 and "findme@example.org" in response.content.decode()


@pytest.mark.django_db(transaction=True)  # CREATE INDEX CONCURRENTLY runs outside a transaction
def test_an_index_left_invalid_by_a_cut_off_build_is_built_again():
    with connection.cursor() as cursor:  # what a concurrent build leaves when its connection drops
        cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'mailings_client_email_trgm'::regclass")
    run_migration()
    assert fetch("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('mailings_client_email_trgm')") == [
        (True,)]
