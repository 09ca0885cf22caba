"""The set-based write of an import's valid rows.

The rows go, batch by batch, into a temporary table (COPY on PostgreSQL, multi-row INSERTs
elsewhere); when the file has been read, a few statements do the rest, whatever the number
of rows:
- an address met again later in the file is reported on each later line and not written
  (its first line counts);
- known clients (same owner, same address whatever its case) get the file's name and
  comment where the file gives them and they differ;
- the other addresses become new clients, in the file's order;
- with a list, every client of the file, new or known, joins it.
Python holds one batch at a time: no set of the addresses seen, no model instances.
Profiling showed a model instance per row (what bulk_create needs) cost several times the
SQL, and the per-batch look-ups and multi-row INSERTs most of an import's database time.
"""
import csv
import io

from django.db import connection
from django.utils import timezone

from mailings.models import Client

from .report import MAX_REPORTED_ERRORS

ROWS = "mailings_import_rows"
# Marks a column the row does not have (COPY's NULL). A name or a comment holding U+0001 is
# refused before it gets here (control characters), and no address is this one character.
NO_VALUE = "\x01"
HASH_JOIN_ABOVE = 10_000  # rows of a file matched against the owner's clients by hashing


def quote(name):
    return connection.ops.quote_name(name)


class ImportWriter:
    """Collects an import's valid rows (``copy``), then writes them (``finish``).

    ``lookup`` False (the owner has no client yet) skips matching known addresses: a client
    added by someone else meanwhile then ends the import in an IntegrityError (refused).
    """

    def __init__(self, owner, client_list=None, *, lookup=True):
        self.owner, self.client_list, self.lookup = owner, client_list, lookup
        self.postgresql = connection.vendor == "postgresql"
        # On SQLite the address column has no type: a TEXT column compared with LOWER(email)
        # lends it its affinity, and the (owner, lower(email)) index is then not used (each
        # row scanned the owner's clients).
        email_type = "varchar(320)" if self.postgresql else ""
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {ROWS}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {ROWS} (line integer PRIMARY KEY, email {email_type} NOT NULL, "
                "full_name varchar(255) NULL, comment text NULL, first_line integer NULL)"
                + (" ON COMMIT DROP" if self.postgresql else "")
            )

    def copy(self, rows):
        """Add (line, email, full_name, comment) rows; None is a column the file does not have."""
        if not rows:
            return
        columns = f"{ROWS} (line, email, full_name, comment)"
        with connection.cursor() as cursor:
            if self.postgresql:
                buffer = io.StringIO()
                csv.writer(buffer, lineterminator="\n").writerows(
                    (line, email, NO_VALUE if name is None else name, NO_VALUE if comment is None else comment)
                    for line, email, name, comment in rows
                )
                buffer.seek(0)
                cursor.copy_expert(f"COPY {columns} FROM STDIN WITH (FORMAT csv, NULL E'\\x01')", buffer)
            else:
                chunk = max(1, (connection.features.max_query_params or 4000) // 4)
                for start in range(0, len(rows), chunk):
                    part = rows[start:start + chunk]
                    cursor.execute(
                        f"INSERT INTO {columns} VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(part)),
                        [value for row in part for value in row],
                    )

    def finish(self, report):
        """Write the collected rows; the report gets the counts and the lines met twice."""
        client, now = quote(Client._meta.db_table), timezone.now()
        with connection.cursor() as cursor:
            if self.postgresql:
                # A temporary table is never analysed on its own: without its statistics the
                # planner took a million rows for a few and joined them row by row.
                cursor.execute(f"ANALYZE {ROWS}")
            duplicates = self._mark_repeated_lines(cursor)
            report.add_sorted_errors(*duplicates)
            cursor.execute(f"SELECT COUNT(*) FROM {ROWS} WHERE first_line IS NULL")
            rows = cursor.fetchone()[0]
            if self.postgresql and rows > HASH_JOIN_ABOVE:
                # Matched by hashing, never row by row: right after a bulk load the owner's
                # clients are not analysed yet, and the planner, taking them for a handful,
                # chose a nested loop over all of them for each row of the file (minutes).
                cursor.execute("SELECT set_config('enable_nestloop', 'off', true)")
            known = (
                f"SELECT 1 FROM {client} c WHERE c.owner_id = %s AND LOWER(c.email) = {ROWS}.email"
            )
            updated = 0
            if self.lookup:
                cursor.execute(
                    f"UPDATE {client} SET full_name = COALESCE(t.full_name, {client}.full_name), "
                    f"comment = COALESCE(t.comment, {client}.comment), updated_at = %s "
                    f"FROM {ROWS} t WHERE {client}.owner_id = %s AND LOWER({client}.email) = t.email "
                    f"AND t.first_line IS NULL AND (COALESCE(t.full_name, {client}.full_name) <> {client}.full_name "
                    f"OR COALESCE(t.comment, {client}.comment) <> {client}.comment)",
                    [now, self.owner.pk],
                )
                updated = cursor.rowcount
            columns, values, params = self._new_client_columns(now)
            cursor.execute(
                f"INSERT INTO {client} ({columns}) SELECT {values} FROM {ROWS} WHERE first_line IS NULL"
                + (f" AND NOT EXISTS ({known})" if self.lookup else "") + " ORDER BY line",
                params + ([self.owner.pk] if self.lookup else []),
            )
            created = cursor.rowcount
            if self.client_list is not None:
                self._join_list(cursor)
            cursor.execute(f"DROP TABLE {ROWS}")
            if self.postgresql and rows > HASH_JOIN_ABOVE:
                cursor.execute("SELECT set_config('enable_nestloop', 'on', true)")
        report.created += created
        report.updated += updated
        report.unchanged += rows - created - updated

    def _mark_repeated_lines(self, cursor):
        """Mark each line whose address an earlier line has (``first_line``); returns how many
        and the first MAX_REPORTED_ERRORS of them as (line, message), in line order."""
        from django.utils.translation import gettext as _

        cursor.execute(
            f"UPDATE {ROWS} SET first_line = d.first_line FROM (SELECT line, MIN(line) OVER (PARTITION BY email) "
            f"AS first_line FROM {ROWS}) d WHERE d.line = {ROWS}.line AND d.first_line < {ROWS}.line"
        )
        count = cursor.rowcount
        if not count:
            return 0, []
        cursor.execute(
            f"SELECT line, email, first_line FROM {ROWS} WHERE first_line IS NOT NULL ORDER BY line LIMIT %s",
            [MAX_REPORTED_ERRORS],
        )
        return count, [
            (line, _("The address %(email)s already appears on line %(line)d.") % {"email": email, "line": first})
            for line, email, first in cursor.fetchall()
        ]

    def _new_client_columns(self, now):
        """Columns, SELECT expressions and parameters of a new client from a row.

        Every concrete column of Client is filled, so a field added later gets its default
        (one value for the whole import: a default that must differ per row, such as a
        random token, would need its own expression here).
        """
        columns, values, params = [], [], []
        given = {"owner": self.owner.pk, "created_at": now, "updated_at": now}
        from_file = {"email": "email", "full_name": "COALESCE(full_name, '')", "comment": "COALESCE(comment, '')"}
        for f in Client._meta.concrete_fields:
            if f.primary_key:
                continue
            columns.append(quote(f.column))
            if f.name in from_file:
                values.append(from_file[f.name])
            else:
                values.append("%s")
                params.append(f.get_db_prep_save(given[f.name] if f.name in given else f.get_default(), connection))
        return ", ".join(columns), ", ".join(values), params

    def _join_list(self, cursor):
        """Every client of the file joins the list (members already there stay)."""
        members = Client.lists.through._meta
        cursor.execute(
            f"INSERT INTO {quote(members.db_table)} ({quote(members.get_field('client').column)}, "
            f"{quote(members.get_field('clientlist').column)}) "
            f"SELECT c.id, %s FROM {ROWS} t JOIN {quote(Client._meta.db_table)} c "
            "ON c.owner_id = %s AND LOWER(c.email) = t.email WHERE t.first_line IS NULL ON CONFLICT DO NOTHING",
            [self.client_list.pk, self.owner.pk],
        )
