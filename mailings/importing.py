"""Import of a user's clients from CSV or XLSX: streamed, batched, scoped to one owner.

The admin's import page and ``bench/import_clients.py`` both call ``import_clients``.

Rules (README, "Importing clients"):
- Clients are matched by e-mail address (case-insensitive) within the importing user's own
  list. An ``id`` column is ignored, so a file carrying another user's ids can never touch
  that user's data. Known addresses are updated, new ones created, never duplicated.
- Each invalid row is reported with its line number and reason and is not written; valid
  rows are imported. With ``all_or_nothing`` a single invalid row cancels the whole import.
- Problems with the file as a whole (too big, empty, only a header, no e-mail column,
  unreadable) refuse the import with a message and write nothing. The import runs in one
  transaction, so it never stops half-way.
- An import never resubscribes anyone: ``unsubscribed_at`` is left as it is.

Speed: the file is decoded and parsed as a stream (csv module, or openpyxl in read-only
mode), and rows are written in batches: one query to find which addresses of the batch
exist, one bulk insert, one bulk update of the rows that really changed.
"""
import codecs
import csv
import io
import re
import zipfile
from dataclasses import dataclass, field

import charset_normalizer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.validators import validate_multiline, validate_single_line
from mailings import lists
from mailings.models import Client
from mailings.spreadsheets import unescape_formula

MAX_IMPORT_BYTES = 50 * 1024 * 1024
BATCH_SIZE = 2000
MAX_REPORTED_ERRORS = 200
SNIFF_BYTES = 64 * 1024

EMAIL_MAX_LENGTH = Client._meta.get_field("email").max_length
FULL_NAME_MAX_LENGTH = Client._meta.get_field("full_name").max_length

# Header names people actually use (exports of this site, Excel in Russian, mail tools).
COLUMN_ALIASES = {
    "email": {"email", "e-mail", "e_mail", "mail", "адрес", "почта", "электронная почта", "email address"},
    "full_name": {"full_name", "full name", "name", "фио", "имя", "ф.и.о.", "полное имя"},
    "comment": {"comment", "comments", "note", "notes", "комментарий", "примечание"},
}
HEADERLESS_COLUMNS = ["email", "full_name", "comment"]


class ImportRefused(Exception):
    """The file as a whole cannot be imported; nothing was written."""


@dataclass
class RowError:
    line: int
    message: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)
    error_count: int = 0
    rolled_back: bool = False
    encoding: str | None = None  # the text encoding a CSV was read in, as people name it

    @property
    def rows(self):
        return self.created + self.updated + self.unchanged + self.error_count

    @property
    def errors_not_listed(self):
        return self.error_count - len(self.errors)

    def add_error(self, line, message):
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, message))


def max_import_bytes():
    return getattr(settings, "CLIENT_IMPORT_MAX_BYTES", MAX_IMPORT_BYTES)


def check_size(size):
    """Refuse a file above the limit before reading any of it."""
    if size is not None and size > max_import_bytes():
        raise ImportRefused(too_big_message(size))


def too_big_message(size):
    return _("The file is %(size)d MB; the limit is %(limit)d MB. Split it into smaller files.") % {
        "size": size // (1024 * 1024), "limit": max_import_bytes() // (1024 * 1024),
    }


def import_clients(*, owner, file, all_or_nothing=False, client_list=None):
    """Import clients for ``owner`` from a binary file object (CSV or XLSX).

    With ``client_list`` (one of the owner's lists) every valid row's client, new or known,
    joins that list.

    Raises ImportRefused for problems with the whole file; returns an ImportReport.
    """
    check_size(getattr(file, "size", None))
    rows, encoding = read_rows(file)
    report = ImportReport(encoding=ENCODING_NAMES.get(encoding, encoding))
    try:
        with transaction.atomic():
            _import_rows(owner, rows, report, client_list)
            if report.error_count and all_or_nothing:
                report.rolled_back = True
                transaction.set_rollback(True)
    except IntegrityError:
        raise ImportRefused(
            _("Your clients were changed while the file was imported; nothing was imported. Try again.")
        )
    if report.rolled_back:
        report.created = report.updated = report.unchanged = 0
    return report


def _import_rows(owner, rows, report, client_list=None):
    seen = {}  # address -> line of its first appearance in the file
    # A first import (the owner has no clients yet) cannot meet a known address: skip the
    # look-ups. A concurrent import of the same owner then ends in IntegrityError (refused).
    lookup = Client.objects.filter(owner=owner).exists()
    batch = []
    any_row = False
    for line, values in rows:
        any_row = True
        client = _valid_row(line, values, seen, report)
        if client:
            batch.append(client)
        if len(batch) >= BATCH_SIZE:
            _write_batch(owner, batch, report, lookup, client_list)
            batch = []
    if batch:
        _write_batch(owner, batch, report, lookup, client_list)
    if not any_row:
        raise ImportRefused(_("The file has a header but no rows to import."))


def _valid_row(line, values, seen, report):
    """The row as a (line, email, full_name, comment) tuple, or None after reporting why not."""
    email = Client.normalize_email(values.get("email"))
    full_name = values.get("full_name")
    comment = values.get("comment")
    if not email:
        report.add_error(line, _("The e-mail address is empty."))
        return None
    if len(email) > EMAIL_MAX_LENGTH:
        report.add_error(line, _("The e-mail address is longer than %(max)d characters.") % {"max": EMAIL_MAX_LENGTH})
        return None
    try:
        validate_email(email)
    except ValidationError:
        report.add_error(line, _("“%(email)s” is not a valid e-mail address.") % {"email": email[:100]})
        return None
    if full_name is not None:
        full_name = unescape_formula(full_name.strip())
        if len(full_name) > FULL_NAME_MAX_LENGTH:
            report.add_error(line, _("The name is longer than %(max)d characters.") % {"max": FULL_NAME_MAX_LENGTH})
            return None
        if _refused_by(validate_single_line, line, "full_name", full_name, report):
            return None
    if comment is not None:
        comment = unescape_formula(comment.strip())
        if _refused_by(validate_multiline, line, "comment", comment, report):
            return None
    if email in seen:
        report.add_error(line, _("The address %(email)s already appears on line %(line)d.") % {"email": email, "line": seen[email]})
        return None
    seen[email] = line
    return line, email, full_name, comment


def _refused_by(validator, line, column, text, report):
    """Report the row if the column's text breaks the forms' rule (the model field's validator)."""
    try:
        validator(text)
    except ValidationError as error:
        report.add_error(line, _("Column %(column)s: %(reason)s") % {"column": column, "reason": " ".join(error.messages)})
        return True
    return False


def _write_batch(owner, batch, report, lookup, client_list=None):
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
    _insert(owner, new, now)
    Client.objects.bulk_update(changed, ["full_name", "comment", "updated_at"], batch_size=500)
    report.created += len(new)
    report.updated += len(changed)
    if client_list is not None:
        lists.add_addresses(owner, [row[1] for row in batch], client_list)


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
    """Insert (email, full_name, comment) rows with plain multi-row INSERT statements.

    Profiling showed building a model instance per row (what bulk_create needs) cost several
    times the SQL itself. Every concrete column of Client is filled, so a field added later
    gets its default (a callable default is called per row).
    """
    if not rows:
        return
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
                f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([placeholders] * len(part)), params
            )


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


# --- Reading files ------------------------------------------------------------------------

XLSX_MAGIC = b"PK\x03\x04"
OLD_EXCEL_MAGIC = b"\xd0\xcf\x11\xe0"


def read_rows(file):
    """The rows of a CSV or XLSX file and the text encoding of a CSV (None for XLSX).

    The rows are (line number, {column: text}) for each non-empty data row.

    Checks the file's header before the first row is yielded, so whole-file problems are
    raised from this call, not in the middle of the import.
    """
    binary = getattr(file, "file", file)
    binary.seek(0)
    head = binary.read(SNIFF_BYTES)
    binary.seek(0)
    if not head.strip().lstrip(codecs.BOM_UTF8).strip():
        raise ImportRefused(_("The file is empty."))
    if head.startswith(OLD_EXCEL_MAGIC):
        raise ImportRefused(_("Old Excel files (.xls) are not supported: save the file as .xlsx or .csv."))
    if head.startswith(XLSX_MAGIC):
        encoding, raw_rows = None, _xlsx_rows(binary)
    else:
        encoding = _text_encoding(head)
        raw_rows = _csv_rows(binary, head, encoding)
    columns, first_data = _columns(raw_rows)
    return _mapped(columns, first_data, raw_rows), encoding


def _columns(raw_rows):
    """Map column positions to field names from the first non-empty row.

    A first row that already holds an address is data: the columns are then taken as
    e-mail, name, comment.
    """
    for line, cells in raw_rows:
        if not any(cells):
            continue
        if any("@" in cell for cell in cells[:1]):
            return dict(enumerate(HEADERLESS_COLUMNS)), (line, cells)
        columns = {}
        for position, title in enumerate(cells):
            name = _field_for(title)
            if name and name not in columns.values():
                columns[position] = name
        if "email" not in columns.values():
            raise ImportRefused(
                _("No e-mail column found in the first row. Name the columns email, full_name and comment.")
            )
        return columns, None
    raise ImportRefused(_("The file is empty."))


def _field_for(title):
    title = title.strip().lstrip("\ufeff").strip().lower()
    for name, aliases in COLUMN_ALIASES.items():
        if title in aliases:
            return name
    return None


def _mapped(columns, first_data, raw_rows):
    if first_data:
        yield first_data[0], _row_dict(columns, first_data[1])
    for line, cells in raw_rows:
        if any(cells):
            yield line, _row_dict(columns, cells)


def _row_dict(columns, cells):
    return {name: cells[position] if position < len(cells) else None for position, name in columns.items()}


# Single-byte encodings a spreadsheet saved "as CSV" comes in, here: Russian and Western
# European Windows, and KOI8-R. Detection chooses among these only: on a short file an
# unrestricted guess is often an exotic code page.
DETECTED_ENCODINGS = ["cp1251", "cp1252", "koi8_r"]
ENCODING_NAMES = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1251": "Windows-1251", "cp1252": "Windows-1252 (Latin-1)",
    "koi8_r": "KOI8-R",
}


def _text_encoding(head):
    """UTF-8 (with or without BOM) when the start of the file decodes as UTF-8, else the
    most likely of DETECTED_ENCODINGS (charset-normalizer), Windows-1251 when none fits."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(head, cp_isolation=DETECTED_ENCODINGS).best()
        return best.encoding if best else "cp1251"
    return "utf-8"


def _delimiter(head, encoding):
    first_line = head.decode(encoding, errors="replace").splitlines()[0] if head else ""
    counts = {d: first_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _csv_rows(binary, head, encoding):
    text = io.TextIOWrapper(binary, encoding=encoding, errors="strict", newline="")
    reader = csv.reader(text, delimiter=_delimiter(head, encoding))
    try:
        first_line = 1  # where the record starts: a quoted cell may hold line breaks
        for cells in reader:
            yield first_line, [cell.strip() for cell in cells]
            first_line = reader.line_num + 1
    except UnicodeDecodeError:
        # Decoding runs ahead of the parser by a buffer, so the line is approximate.
        raise ImportRefused(
            _("The file cannot be read near line %(line)d: the text is not valid %(encoding)s. "
              "Save it as CSV (UTF-8) or XLSX.") % {"line": reader.line_num + 1, "encoding": encoding}
        )
    except csv.Error as error:
        raise ImportRefused(
            _("The file cannot be read near line %(line)d: %(reason)s. Save it as CSV (UTF-8) or XLSX.")
            % {"line": reader.line_num, "reason": error}
        )
    finally:
        try:
            text.detach()  # leave the caller's file open
        except ValueError:
            pass  # already closed by the caller


# An XLSX file is a zip of XML parts: what reading it costs depends on the unpacked parts,
# not on the file's size (a 1.2 MB workbook can hold millions of shared strings, which
# openpyxl keeps in memory, and a sheet of a few MB can unpack to gigabytes). These limits
# (README, "Importing clients") are checked on the zip's directory and a streamed count of
# the shared strings before openpyxl parses anything; rows and columns while reading.
XLSX_MAX_PARTS = 10_000
XLSX_MAX_UNPACKED_BYTES = 200 * 1024 * 1024
XLSX_MAX_SHEET_BYTES = 100 * 1024 * 1024  # a worksheet is streamed, never held whole
XLSX_MAX_SHARED_STRINGS_BYTES = 50 * 1024 * 1024
XLSX_MAX_OTHER_PART_BYTES = 10 * 1024 * 1024  # styles, workbook, relations: read whole
XLSX_MAX_SHARED_STRINGS = 500_000
XLSX_MAX_ROWS = 300_000
XLSX_MAX_COLUMNS = 50  # cells to the right of column AX are not read
XML_ROOT = re.compile(rb"<(?:[\w.-]{1,32}:)?(worksheet|sst)[\s/>]")
SHARED_STRING = re.compile(rb"<(?:[\w.-]{1,32}:)?si[\s/>]")
TAG_OVERLAP = 40  # longer than any match of SHARED_STRING
READ_CHUNK = 1024 * 1024


def _xlsx_rows(binary):
    from openpyxl import load_workbook

    _check_xlsx_limits(binary)
    binary.seek(0)
    try:
        workbook = load_workbook(binary, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many types for a damaged file
        raise ImportRefused(_("The Excel file cannot be read (%(reason)s).") % {"reason": error.__class__.__name__})
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # a declared size of A1:XFD1048576 must not pad every row
        rows = sheet.iter_rows(max_col=XLSX_MAX_COLUMNS, values_only=True)
        for line, values in enumerate(rows, start=1):
            if line > XLSX_MAX_ROWS:
                raise ImportRefused(
                    _("The Excel sheet has more than %(limit)s rows (empty ones count too). "
                      "Split it, or save it as CSV.") % {"limit": f"{XLSX_MAX_ROWS:,}"}
                )
            yield line, ["" if value is None else str(value).strip() for value in values]
    finally:
        workbook.close()


def _check_xlsx_limits(binary):
    """Refuse a workbook whose unpacked parts exceed the limits, before openpyxl reads it.

    zipfile never unpacks more than a part's declared size, so the declared sizes bound
    what openpyxl can read.
    """
    try:
        archive = zipfile.ZipFile(binary)
    except (zipfile.BadZipFile, ValueError) as error:
        raise ImportRefused(_("The Excel file cannot be read (%(reason)s).") % {"reason": error.__class__.__name__})
    with archive:
        parts = archive.infolist()
        if len(parts) > XLSX_MAX_PARTS:
            raise _xlsx_refusal(_("it has more than %(limit)s parts") % {"limit": f"{XLSX_MAX_PARTS:,}"})
        unpacked = sum(part.file_size for part in parts)
        if unpacked > XLSX_MAX_UNPACKED_BYTES:
            raise _xlsx_refusal(
                _("it unpacks to %(size)d MB; the limit is %(limit)d MB")
                % {"size": unpacked // 2**20, "limit": XLSX_MAX_UNPACKED_BYTES // 2**20}
            )
        for part in parts:
            _check_xlsx_part(archive, part)


def _check_xlsx_part(archive, part):
    try:
        with archive.open(part) as stream:
            head = stream.read(4096)
            root = XML_ROOT.search(head)
            kind = root.group(1).decode() if root else None
            limit = {"worksheet": XLSX_MAX_SHEET_BYTES, "sst": XLSX_MAX_SHARED_STRINGS_BYTES}.get(
                kind, XLSX_MAX_OTHER_PART_BYTES
            )
            if part.file_size > limit:
                raise _xlsx_refusal(
                    _("its part %(part)s unpacks to %(size)d MB; the limit is %(limit)d MB")
                    % {"part": part.filename[:100], "size": part.file_size // 2**20, "limit": limit // 2**20}
                )
            if kind == "sst":
                _check_shared_strings(stream, head)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError) as error:
        raise ImportRefused(_("The Excel file cannot be read (%(reason)s).") % {"reason": error.__class__.__name__})


def _check_shared_strings(stream, head):
    """Count the shared strings (``<si>`` elements) as a stream, without building any of them."""
    count, window = 0, head
    while window:
        chunk = stream.read(READ_CHUNK)
        # A tag cut by the window's end is counted with the next window.
        counted_up_to = len(window) - TAG_OVERLAP if chunk else len(window)
        count += sum(1 for match in SHARED_STRING.finditer(window) if match.start() < counted_up_to)
        if count > XLSX_MAX_SHARED_STRINGS:
            raise _xlsx_refusal(
                _("it holds more than %(limit)s distinct texts (shared strings)")
                % {"limit": f"{XLSX_MAX_SHARED_STRINGS:,}"}
            )
        window = window[max(counted_up_to, 0):] + chunk if chunk else b""


def _xlsx_refusal(reason):
    return ImportRefused(
        _("The Excel file was not read: %(reason)s. Such a file is damaged or built to overload "
          "the server; save the list as CSV or split it.") % {"reason": reason}
    )
