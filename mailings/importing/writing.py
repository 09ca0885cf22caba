"""The set-based write of an import's valid rows.

The rows go, batch by batch, into a temporary table (COPY on PostgreSQL, multi-row INSERTs
elsewhere); when the file has been read, a few statements do the rest, whatever the number
of rows:
- an address met again later in the file is reported on each later line and not written
  (its first line counts);
- known clients (same owner, same address whatever its case) are looked up once, their id
  noted on the row; they get the file's name and comment where the file gives them and
  they differ;
- the other addresses become new clients, in the file's order;
- with a list, every client of the file, new or known, joins it: on PostgreSQL the new
  ones by the ids their INSERT returned (no second look-up, no conflict check).
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
NEW_IDS = "mailings_import_new_ids"  # PostgreSQL: the ids of the clients an import into a list created
# Marks a column the row does not have (COPY's NULL). A name or a comment holding U+0001 is
# refused before it gets here (control characters), and no address is this one character.
NO_VALUE = "\x01"
HASH_JOIN_ABOVE = 10_000  # rows of a file matched against the owner's clients by hashing
# Memory PostgreSQL may give each hash of the import's statements, for its transaction only
# (as audience.RUN_START_WORK_MEM for a run): grouping a million addresses to find the
# repeated ones, and matching them with the owner's clients, spilled to disk with the
# default 4 MB (16 batches).
IMPORT_WORK_MEM = "80MB"


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
                "full_name varchar(255) NULL, comment text NULL, first_line integer NULL, client_id bigint NULL)"
                + (" ON COMMIT DROP" if self.postgresql else "")
            )

    def write(self, batches):
        """Add the rows of ``batches`` (lists of (line, email, full_name, comment) tuples; None
        is a column the file does not have), read one batch at a time.

        On PostgreSQL one COPY takes the whole file, fed batch by batch as the file is read:
        the server stores a batch while Python reads the next (the machine's other core), and
        no batch waits for a round trip. Profiled: a COPY per batch of 2,000 kept Python
        waiting 3.6 s of a 1,000,000-row import.
        """
        columns = f"{ROWS} (line, email, full_name, comment)"
        with connection.cursor() as cursor:
            if not self.postgresql:
                for rows in batches:
                    self._insert(cursor, columns, rows)
                return
            stream = _CopyStream(batches)
            try:
                cursor.copy_expert(f"COPY {columns} FROM STDIN WITH (FORMAT csv, NULL E'\\x01')", stream)
            except Exception:
                if stream.error is not None:
                    raise stream.error  # what reading the file raised (ImportRefused), not the cancelled COPY
                raise

    @staticmethod
    def _insert(cursor, columns, rows):
        chunk = max(1, (connection.features.max_query_params or 4000) // 4)
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            cursor.execute(
                f"INSERT INTO {columns} VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(part)),
                [value for row in part for value in row],
            )

    def finish(self, report):
        """Write the collected rows; the report gets the counts and the lines met twice."""
        now = timezone.now()
        with connection.cursor() as cursor:
            if self.postgresql:
                # A temporary table is never analysed on its own: without its statistics the
                # planner took a million rows for a few and joined them row by row.
                cursor.execute(f"ANALYZE {ROWS}")
                cursor.execute("SELECT set_config('work_mem', %s, true)", [IMPORT_WORK_MEM])
            duplicates = self._mark_repeated_lines(cursor)
            report.add_sorted_errors(*duplicates)
            cursor.execute(f"SELECT COUNT(*) FROM {ROWS} WHERE first_line IS NULL")
            rows = cursor.fetchone()[0]
            if self.postgresql and rows > HASH_JOIN_ABOVE:
                # Matched by hashing, never row by row: right after a bulk load the owner's
                # clients are not analysed yet, and the planner, taking them for a handful,
                # chose a nested loop over all of them for each row of the file (minutes).
                cursor.execute("SELECT set_config('enable_nestloop', 'off', true)")
            updated = 0
            if self.lookup:
                self._find_known(cursor)
                updated = self._update_known(cursor, now)
            created = self._insert_new(cursor, now)
            if self.client_list is not None:
                self._join_list(cursor)
            cursor.execute(f"DROP TABLE {ROWS}")
            if self.postgresql:
                cursor.execute(f"DROP TABLE IF EXISTS {NEW_IDS}")
                cursor.execute("SELECT set_config('enable_nestloop', 'on', true)")
        report.created += created
        report.updated += updated
        report.unchanged += rows - created - updated

    def _find_known(self, cursor):
        """Note on each row the owner's client of that address, if there is one: one look-up
        for the update, the insert and the list."""
        client = quote(Client._meta.db_table)
        cursor.execute(
            f"UPDATE {ROWS} SET client_id = c.id FROM {client} c "
            f"WHERE c.owner_id = %s AND LOWER(c.email) = {ROWS}.email AND {ROWS}.first_line IS NULL",
            [self.owner.pk],
        )

    def _update_known(self, cursor, now):
        """Known clients get the file's name and comment where given and different; returns how many."""
        client = quote(Client._meta.db_table)
        cursor.execute(
            f"UPDATE {client} SET full_name = COALESCE(t.full_name, {client}.full_name), "
            f"comment = COALESCE(t.comment, {client}.comment), updated_at = %s "
            f"FROM {ROWS} t WHERE {client}.id = t.client_id AND t.first_line IS NULL "
            f"AND (COALESCE(t.full_name, {client}.full_name) <> {client}.full_name "
            f"OR COALESCE(t.comment, {client}.comment) <> {client}.comment)",
            [now],
        )
        return cursor.rowcount

    def _insert_new(self, cursor, now):
        """Insert the rows of no known client, in the file's order; returns how many.

        On PostgreSQL with a list, the new clients' ids are kept (RETURNING) for the list:
        finding them again by address was a join of the whole file with the owner's clients.
        A client of one of these addresses added by someone else since the look-up ends the
        import in an IntegrityError (refused, nothing written).
        """
        columns, values, params = self._new_client_columns(now)
        insert = (
            f"INSERT INTO {quote(Client._meta.db_table)} ({columns}) SELECT {values} FROM {ROWS} "
            "WHERE first_line IS NULL AND client_id IS NULL ORDER BY line"
        )
        if self.postgresql and self.client_list is not None:
            cursor.execute(f"DROP TABLE IF EXISTS {NEW_IDS}")
            cursor.execute(f"CREATE TEMPORARY TABLE {NEW_IDS} (id bigint NOT NULL) ON COMMIT DROP")
            cursor.execute(f"WITH new AS ({insert} RETURNING id) INSERT INTO {NEW_IDS} (id) SELECT id FROM new", params)
        else:
            cursor.execute(insert, params)
        return cursor.rowcount

    def _mark_repeated_lines(self, cursor):
        """Mark each line whose address an earlier line has (``first_line``); returns how many
        and the first MAX_REPORTED_ERRORS of them as (line, message), in line order."""
        from django.utils.translation import gettext as _

        cursor.execute(
            f"UPDATE {ROWS} SET first_line = d.first_line FROM (SELECT email, MIN(line) AS first_line FROM {ROWS} "
            f"GROUP BY email HAVING COUNT(*) > 1) d WHERE d.email = {ROWS}.email AND d.first_line < {ROWS}.line"
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
        table = quote(members.db_table)
        columns = f"{quote(members.get_field('client').column)}, {quote(members.get_field('clientlist').column)}"
        if self.postgresql:
            # Clients created by this transaction are in no list yet, and no one else sees
            # them: their memberships need no conflict check.
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT id, %s FROM {NEW_IDS}", [self.client_list.pk])
            known = f"SELECT client_id, %s FROM {ROWS} WHERE client_id IS NOT NULL"
            params = [self.client_list.pk]
        else:
            known = (
                f"SELECT c.id, %s FROM {ROWS} t JOIN {quote(Client._meta.db_table)} c "
                "ON c.owner_id = %s AND LOWER(c.email) = t.email WHERE t.first_line IS NULL"
            )
            params = [self.client_list.pk, self.owner.pk]
        if self.lookup or not self.postgresql:
            cursor.execute(f"INSERT INTO {table} ({columns}) {known} ON CONFLICT DO NOTHING", params)


class _CopyStream:
    """The file psycopg2's ``copy_expert`` reads: each ``read`` is the next batch as CSV, ""
    at the end. psycopg2 turns an exception in ``read`` into a cancelled COPY, so it is kept
    (``error``) for the caller to raise instead."""

    def __init__(self, batches):
        self.batches, self.error = iter(batches), None

    def read(self, size=-1):
        try:
            rows = next(self.batches, None)
        except Exception as error:
            self.error = error
            raise
        if not rows:
            return ""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(
            (line, email, NO_VALUE if name is None else name, NO_VALUE if comment is None else comment)
            for line, email, name, comment in rows
        )
        return buffer.getvalue()
