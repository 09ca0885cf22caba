"""The set-based write of a batch of valid rows: new clients inserted, known ones updated,
every one of them joining the list when the import names one."""
from django.db import connection
from django.db.models.functions import Lower
from django.utils import timezone

from mailings import lists
from mailings.models import Client


def write_batch(owner, batch, report, lookup, client_list=None):
    existing = _known(owner, [row[1] for row in batch]) if lookup else {}
    new, changed = [], []
    now = timezone.now()
    for _line, email, full_name, comment in batch:
        known = existing.get(email)
        if known is None:
            new.append((email, full_name or "", comment or ""))
            continue
        client = _updated(known, full_name, comment)
        if client is None:
            report.unchanged += 1
        else:
            client.updated_at = now
            changed.append(client)
    new_ids = _insert(owner, new, now)
    Client.objects.bulk_update(changed, ["full_name", "comment", "updated_at"], batch_size=500)
    report.created += len(new)
    report.updated += len(changed)
    if client_list is not None:
        # By id: the new rows' ids came back from their INSERT, the known ones' from the look-up
        # (looking the batch's addresses up again cost more than writing the rows).
        lists.add_ids([pk for pk, _name, _comment in existing.values()] + new_ids, client_list)


def _known(owner, emails):
    """{address: (pk, full_name, comment)} of the owner's clients among ``emails``."""
    return {
        email: (pk, full_name, comment)
        for pk, email, full_name, comment in Client.objects.filter(owner=owner)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=emails)
        .values_list("pk", "email_lower", "full_name", "comment")
    }


def _insert(owner, rows, now):
    """Insert (email, full_name, comment) rows with plain multi-row INSERT statements; returns
    their ids (RETURNING, which PostgreSQL and SQLite ≥ 3.35 both have).

    Profiling showed building a model instance per row (what bulk_create needs) cost several
    times the SQL itself. Every concrete column of Client is filled, so a field added later
    gets its default (a callable default is called per row).
    """
    if not rows:
        return []
    fields = [f for f in Client._meta.concrete_fields if not f.primary_key]
    given = {"owner": owner.pk, "created_at": now, "updated_at": now}
    constants, per_row = {}, []
    for position, f in enumerate(fields):
        if f.name in ("email", "full_name", "comment"):
            per_row.append((position, None))
        elif f.name in given:
            constants[position] = f.get_db_prep_save(given[f.name], connection)
        elif f.has_default() and callable(f.default):
            per_row.append((position, f))
        else:
            constants[position] = f.get_db_prep_save(f.get_default(), connection)
    slots = {"email": 0, "full_name": 1, "comment": 2}
    table = connection.ops.quote_name(Client._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    chunk = max(1, connection.ops.bulk_batch_size(fields, rows))
    pk = connection.ops.quote_name(Client._meta.pk.column)
    ids = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            params = []
            for row in part:
                values = dict(constants)
                for position, f in per_row:
                    values[position] = (
                        row[slots[fields[position].name]] if f is None else f.get_db_prep_save(f.get_default(), connection)
                    )
                params.extend(values[position] for position in range(len(fields)))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([placeholders] * len(part))
                + f" RETURNING {pk}", params,
            )
            ids += [row[0] for row in cursor.fetchall()]
    return ids


def _updated(known, full_name, comment):
    """A Client carrying the file's values if they change anything, else None.

    A column missing from the file changes nothing.
    """
    pk, old_name, old_comment = known
    new_name = old_name if full_name is None else full_name
    new_comment = old_comment if comment is None else comment
    if (new_name, new_comment) == (old_name, old_comment):
        return None
    return Client(pk=pk, full_name=new_name, comment=new_comment)
