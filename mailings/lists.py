"""List membership in bulk: set-based SQL, whatever the size of the selection.

The admin's "add to list" / "remove from list" act on a queryset (a page's selection or
"all N matching the filter"); it is never loaded: its ids are a subquery of one statement.
Only the list owner's clients join a list, whoever asks.
"""
import csv

from django.db import connection
from django.db.models import F

from mailings.models import Client, ClientList
from mailings.spreadsheets import escape_formula

MEMBERS = Client.lists.through


def _members_table():
    return connection.ops.quote_name(MEMBERS._meta.db_table)


def _ids_sql(clients, client_list):
    ids = clients.filter(owner_id=client_list.owner_id).order_by().values(member_id=F("pk"))
    return ids.query.sql_with_params()


def add_to_list(clients, client_list):
    """Add the clients of ``clients`` (a queryset) to ``client_list``; returns how many joined."""
    select, params = _ids_sql(clients, client_list)
    table = _members_table()
    sql = (
        f"INSERT INTO {table} (client_id, clientlist_id) SELECT q.member_id, %s FROM ({select}) q "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} m WHERE m.client_id = q.member_id AND m.clientlist_id = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [client_list.pk, *params, client_list.pk])
        return cursor.rowcount


def remove_from_list(clients, client_list):
    """Take the clients of ``clients`` out of ``client_list``; returns how many left it."""
    deleted, _per_model = MEMBERS.objects.filter(
        clientlist=client_list, client__in=clients.order_by().values("pk")
    ).delete()
    return deleted


def add_addresses(owner, emails, client_list):
    """Add the owner's clients with these (normalised) addresses to ``client_list`` (an import's batch)."""
    clients = Client.objects.filter(owner=owner, email__in=emails)
    return add_to_list(clients, client_list)


def export_rows(client_list):
    """The list's members as CSV lines (a generator: a million members stream, never load)."""
    buffer = _Echo()
    writer = csv.writer(buffer)
    yield writer.writerow(["email", "full_name", "comment"])
    members = client_list.clients.order_by("pk").values_list("email", "full_name", "comment")
    for row in members.iterator(chunk_size=5000):
        yield writer.writerow([escape_formula(value) for value in row])


class _Echo:
    """A file whose write returns the line: csv.writer then yields lines one at a time."""

    def write(self, value):
        return value


def owned_list(user, pk):
    """One of ``user``'s own lists (what they may add to), or None."""
    return ClientList.objects.filter(owner=user, pk=pk).first() if str(pk).isdigit() else None
