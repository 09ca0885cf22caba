"""List membership in bulk: set-based SQL, whatever the size of the selection.

The admin's "add to list" / "remove from list" act on a queryset (a page's selection or
"all N matching the filter"); it is never loaded: its ids are a subquery of one statement.
Only the list owner's clients join a list, whoever asks.
"""
import csv
import time
from datetime import timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.utils.translation import gettext as _

from mailings import dispatch
from mailings.models import Client, ClientList, Mailing
from mailings.runs.state import hold_start
from mailings.spreadsheets import escape_formula

MEMBERS = Client.lists.through


def _members_table():
    return connection.ops.quote_name(MEMBERS._meta.db_table)


def _ids_sql(clients, client_list):
    ids = clients.filter(owner_id=client_list.owner_id).order_by().values(member_id=F("pk"))
    return ids.query.sql_with_params()


def _insert_members(list_id, select, params, id_range=None):
    """One INSERT … SELECT of the ids ``select`` yields (those in ``id_range`` = (after, up to)
    if given) into the list; returns how many joined."""
    table = _members_table()
    in_range, range_params = ("AND q.member_id > %s AND q.member_id <= %s ", list(id_range)) if id_range else ("", [])
    sql = (
        f"INSERT INTO {table} (client_id, clientlist_id) SELECT q.member_id, %s FROM ({select}) q "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} m WHERE m.client_id = q.member_id AND m.clientlist_id = %s) "
        f"{in_range}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list_id, *params, list_id, *range_params])
        return cursor.rowcount


def add_to_list(clients, client_list):
    """Add the clients of ``clients`` (a queryset) to ``client_list``; returns how many joined."""
    return _insert_members(client_list.pk, *_ids_sql(clients, client_list))


# --- Large selections: in the worker, in batches, with progress on the list's page -----

IN_BACKGROUND_ABOVE = 50_000  # clients: more than this and "add to list" runs in the worker
ID_RANGE = 50_000  # client ids per statement: one short transaction each, progress between them
FILL_TASK = "mailings.lists.fill_list"


def is_large(clients, client_list):
    """Whether the selection has more than IN_BACKGROUND_ABOVE clients (counting no further)."""
    ids = clients.filter(owner_id=client_list.owner_id).order_by().values("pk")
    return ids[: IN_BACKGROUND_ABOVE + 1].count() > IN_BACKGROUND_ABOVE


def add_to_list_in_background(clients, client_list):
    """Queue the addition; the worker runs the same SQL as ``add_to_list``, in batches.

    The task gets the selection as the SQL the queryset compiles to (a queryset cannot be
    sent to the worker), so the filters and search the admin applied are the ones it adds.
    """
    select, params = _ids_sql(clients, client_list)
    # Written before the task is queued: a fill that ends at once must not be shown queued.
    _set_progress(client_list.pk, {"state": "queued", "added": 0, "percent": 0})
    try:
        dispatch.enqueue(FILL_TASK, client_list.pk, select, list(params))
    except Exception:
        cache.delete(_progress_key(client_list.pk))  # no fill is coming: nothing may wait for it
        raise


def fill_list(list_id, select, params):
    """The worker's side of ``add_to_list_in_background``: id range by id range, each its
    own statement (a short transaction), writing progress after each."""
    if not ClientList.objects.filter(pk=list_id).exists():
        return 0
    # "running" from the start, so a worker that dies in the first statement is seen stalled.
    progress = {"state": "running", "added": 0, "percent": 0}
    _set_progress(list_id, progress)
    try:
        added = _fill(list_id, select, params, progress)
    except Exception:
        # Not "running" for FILL_STALLED_AFTER more: the list's mailings wait for nothing.
        _set_progress(list_id, {**progress, "state": "stopped"})
        raise
    if added and connection.vendor == "postgresql":
        # The client changelist counts a big list with the planner's estimate: fresh
        # statistics keep it near the truth after a million new members (autovacuum's
        # ANALYZE would come, but later).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_members_table()}")
    _set_progress(list_id, {"state": "done", "added": added, "percent": 100})
    return added


def _fill(list_id, select, params, progress):
    """Insert the selection id range by id range, updating ``progress`` (and the cache)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(q.member_id), MAX(q.member_id) FROM ({select}) q", params)
        first, last = cursor.fetchone()
    after = (first or 0) - 1
    while first is not None and after < last:
        up_to = after + ID_RANGE
        progress["added"] += _insert_members(list_id, select, params, (after, up_to))
        after = up_to
        progress["percent"] = min(100, int(100 * (after - first + 1) / (last - first + 1)))
        _set_progress(list_id, progress)
    return progress["added"]


def _progress_key(list_id):
    return f"mailings:list-fill:{list_id}"


# A running fill writes its progress after every ID_RANGE statement (seconds apart, even at
# a million rows under load); silent this long, its worker died (killed, redeployed).
FILL_STALLED_AFTER = 15 * 60  # seconds


def _set_progress(list_id, progress):
    cache.set(_progress_key(list_id), {**progress, "at": time.time()}, timeout=24 * 3600)


def fill_progress(client_list):
    """{"state": queued|running|stopped|done, "added": n, "percent": p} of the list's last
    background addition (kept a day), or None. "stopped": it failed, or it was running but has
    written no progress for FILL_STALLED_AFTER, so its worker is gone; adding the clients again
    finishes it (what was added stays, and adding is idempotent)."""
    stored = cache.get(_progress_key(client_list.pk))
    if stored is None:
        return None
    progress = {key: value for key, value in stored.items() if key != "at"}
    if progress["state"] == "running" and time.time() - stored.get("at", 0) > FILL_STALLED_AFTER:
        progress["state"] = "stopped"
    return progress


def _filling(progress):
    return progress is not None and progress["state"] in ("queued", "running")


def is_filling(client_list):
    """Whether clients are still being added to the list in the worker (queued or running):
    a mailing to it would reach only part of them, so none is created or started then."""
    return _filling(fill_progress(client_list))


def filling_refusal(client_lists):
    """Why a mailing to ``client_lists`` may not be made or started now (the first list still
    filling, with its progress), or ""."""
    for client_list in client_lists:
        progress = fill_progress(client_list)  # read once: the fill may end (or expire) meanwhile
        if _filling(progress):
            return _("the list “%(list)s” is still being filled in the background (%(percent)d%% done)") % {
                "list": client_list.name, "percent": progress["percent"]}
    return ""


FILLING_HOLD = timedelta(minutes=1)  # a run held for a filling list is tried again after this


def refuse_run_on_filling_list(*, mailing_id, now):
    """Called by the run start path before a run that reads the mailing's lists is claimed:
    while one of them is filling, the mailing is held for FILLING_HOLD with the reason on its
    page, and the reason is returned; "" lets it start. With "all my clients" the lists
    do not count."""
    mailing = Mailing.objects.filter(pk=mailing_id).first()
    if mailing is None or mailing.all_clients:
        return ""
    reason = filling_refusal(mailing.lists.order_by("name", "pk"))
    if reason:
        hold_start(mailing_id=mailing_id, until=now + FILLING_HOLD, reason=reason)
    return reason


def remove_from_list(clients, client_list):
    """Take the clients of ``clients`` out of ``client_list``; returns how many left it."""
    deleted, _per_model = MEMBERS.objects.filter(
        clientlist=client_list, client__in=clients.order_by().values("pk")
    ).delete()
    return deleted


def add_ids(client_ids, client_list):
    """Add the clients with these ids (the list owner's, as an import of theirs knows them)
    to ``client_list``; members already there stay (ON CONFLICT on the pair's unique index)."""
    table = _members_table()
    chunk = min(2000, (connection.features.max_query_params or 4000) // 2)
    with connection.cursor() as cursor:
        for start in range(0, len(client_ids), chunk):
            part = client_ids[start:start + chunk]
            cursor.execute(
                f"INSERT INTO {table} (client_id, clientlist_id) VALUES "
                + ", ".join(["(%s, %s)"] * len(part)) + " ON CONFLICT DO NOTHING",
                [value for client_id in part for value in (client_id, client_list.pk)],
            )


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
