"""Who a mailing reaches: resolved in SQL when a run starts.

A mailing reaches its ``lists`` and its explicit ``clients``, or, with ``all_clients``, every
client of its owner. Each address once: a client is taken once however many of the
mailing's lists hold it (UNION), and an owner has one client per address whatever its case
(the constraint ``client_owner_email_ci_unique``), so restricting to the owner's clients
makes one row per address. Someone who unsubscribed, or whose address is on the owner's
suppression list, gets a ``skipped`` row with the reason, so the report says why they got
nothing.

Nothing passes through Python: the run's Delivery rows are written with one
INSERT … SELECT, so a list that grew since the mailing was saved is mailed in full and a
million recipients cost no memory.
"""
from django.db import IntegrityError, connection, transaction

from mailings.importing import read_rows
from mailings.importing.rows import FileEmailValidator, address_or_none

from mailings.models import Client, Delivery, DeliveryStatus, Mailing, Suppression, SuppressionReason


def _tables():
    quote = connection.ops.quote_name
    return {
        "client": quote(Client._meta.db_table),
        "suppression": quote(Suppression._meta.db_table),
        "mailing_clients": quote(Mailing.clients.through._meta.db_table),
        "mailing_lists": quote(Mailing.lists.through._meta.db_table),
        "list_members": quote(Client.lists.through._meta.db_table),
        "delivery": quote(Delivery._meta.db_table),
    }


def _member_filter(mailing):
    """SQL condition (and params) on ``c.id`` for the clients a mailing targets, "" for all."""
    if mailing.all_clients:
        return "", []
    t = _tables()
    list_column = connection.ops.quote_name(Client.lists.through._meta.get_field("clientlist").column)
    sql = (
        f" AND c.id IN (SELECT mc.client_id FROM {t['mailing_clients']} mc WHERE mc.mailing_id = %s "
        f"UNION SELECT lm.client_id FROM {t['list_members']} lm "
        f"JOIN {t['mailing_lists']} ml ON ml.clientlist_id = lm.{list_column} WHERE ml.mailing_id = %s)"
    )
    return sql, [mailing.pk, mailing.pk]


def _recipients_sql(mailing):
    """SELECT of (id, email, status, skip_reason) of every recipient of a run of ``mailing``."""
    members, params = _member_filter(mailing)
    return _select_recipients(mailing.owner_id, members, params)


def _select_recipients(owner_id, members, params):
    """SELECT of (id, email, status, skip_reason) of the owner's clients matching ``members``.

    The one rule of who is skipped and why: unsubscribed, or on the owner's suppression
    list (with its reason).
    """
    t = _tables()
    sql = (
        "SELECT c.id AS id, c.email AS email, "
        f"CASE WHEN c.unsubscribed_at IS NOT NULL OR s.reason IS NOT NULL THEN '{DeliveryStatus.SKIPPED}' "
        f"ELSE '{DeliveryStatus.PENDING}' END AS status, "
        f"CASE WHEN c.unsubscribed_at IS NOT NULL THEN '{SuppressionReason.UNSUBSCRIBED}' "
        "ELSE COALESCE(s.reason, '') END AS skip_reason "
        f"FROM {t['client']} c "
        f"LEFT JOIN {t['suppression']} s ON s.owner_id = c.owner_id AND LOWER(s.email) = LOWER(c.email) "
        f"WHERE c.owner_id = %s{members}"
    )
    return sql, [owner_id, *params]


# Memory PostgreSQL may give each sort or hash of the statement that writes a run's rows
# (hash tables get twice this by default). The union of a mailing's lists is hashed to
# drop duplicates, then joined: a million recipients hash in ~150 MB; with the default 4 MB
# both spilled to disk in batches, which cost a third of the statement (EXPLAIN ANALYZE,
# docs/benchmarks.md). It holds for the run-start transaction only; beyond it a hash spills.
RUN_START_WORK_MEM = "80MB"


def _insert(attempt, select, params):
    columns = "attempt_id, client_id, email, status, skip_reason, smtp_response, tries"
    sql = (
        f"INSERT INTO {_tables()['delivery']} ({columns}) "
        f"SELECT %s, r.id, r.email, r.status, r.skip_reason, '', 0 FROM ({select}) r"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [RUN_START_WORK_MEM])
        cursor.execute(sql, [attempt.pk, *params])
        return cursor.rowcount


def insert_recipients(attempt):
    """Write the Delivery rows of ``attempt``'s run (one INSERT … SELECT); returns how many."""
    mailing = Mailing.objects.only("pk", "owner_id", "all_clients").get(pk=attempt.mailing_id)
    return _insert(attempt, *_recipients_sql(mailing))


def insert_retried_recipients(attempt, previous, statuses):
    """Write the rows of a retry of run ``previous``: its recipients left in ``statuses``
    whose client still exists, each skipped by the same rule as a first run (so someone
    who unsubscribed or was suppressed since is not mailed again). Returns how many."""
    owner_id = Mailing.objects.filter(pk=attempt.mailing_id).values_list("owner_id", flat=True).get()
    members = (
        f" AND c.id IN (SELECT d.client_id FROM {_tables()['delivery']} d "
        f"WHERE d.attempt_id = %s AND d.status IN ({', '.join(['%s'] * len(statuses))}))"
    )
    return _insert(attempt, *_select_recipients(owner_id, members, [previous.pk, *statuses]))


def reach_count(mailing):
    """How many people a run of the saved ``mailing`` would mail right now (skipped ones not counted)."""
    return _count_pending(*_recipients_sql(mailing))


def reach_count_of_choice(owner_id, *, list_ids, client_ids, all_clients):
    """``reach_count`` of a mailing not saved yet: the owner's ``list_ids`` ∪ ``client_ids``
    (ids of someone else's lists or clients count nobody), or all their clients."""
    members, params = "", []
    if not all_clients:
        if not list_ids and not client_ids:
            return 0
        t = _tables()
        list_column = connection.ops.quote_name(Client.lists.through._meta.get_field("clientlist").column)
        parts = []
        if client_ids:
            parts.append(f"SELECT cc.id FROM {t['client']} cc WHERE cc.id IN ({', '.join(['%s'] * len(client_ids))})")
            params += list(client_ids)
        if list_ids:
            parts.append(f"SELECT lm.client_id FROM {t['list_members']} lm "
                         f"WHERE lm.{list_column} IN ({', '.join(['%s'] * len(list_ids))})")
            params += list(list_ids)
        members = f" AND c.id IN ({' UNION '.join(parts)})"
    select, params = _select_recipients(owner_id, members, params)
    return _count_pending(select, params)


def _count_pending(select, params):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({select}) r WHERE r.status = %s", [*params, DeliveryStatus.PENDING])
        return cursor.fetchone()[0]


def suppress(owner_id, email, reason):
    """Put ``email`` on the owner's suppression list (idempotent: an entry already there stays)."""
    email = Client.normalize_email(email)
    try:
        with transaction.atomic():
            Suppression.objects.get_or_create(
                owner_id=owner_id, email__iexact=email, defaults={"email": email, "reason": reason}
            )
    except IntegrityError:
        pass  # someone added it at the same moment: it is there, which is all we want


def import_suppressions(owner, file, reason, batch_size=2000):
    """Suppress every valid address of a CSV/XLSX file; returns (added, invalid rows).

    Reads the file as the client import does (mailings.importing.read_rows); addresses
    already suppressed keep their entry and reason.
    """
    rows, _encoding = read_rows(file)
    validate_email = FileEmailValidator()
    added = invalid = 0
    batch = set()
    with transaction.atomic():
        for _line, values in rows:
            email = address_or_none(values.get("email"), validate_email)
            if email is None:
                invalid += 1
                continue
            batch.add(email)
            if len(batch) >= batch_size:
                added += _suppress_batch(owner, batch, reason)
                batch = set()
        added += _suppress_batch(owner, batch, reason)
    return added, invalid


def _suppress_batch(owner, emails, reason):
    known = set(Suppression.objects.filter(owner=owner, email__in=emails).values_list("email", flat=True))
    new = [Suppression(owner=owner, email=email, reason=reason) for email in emails - known]
    # ignore_conflicts: an address someone suppressed since the SELECT above stays as it is.
    Suppression.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
