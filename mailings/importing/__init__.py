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
mode), valid rows are copied in batches into a temporary table, and a few set-based
statements write them all (writing.py). Memory stays flat: one batch at a time.

The package, one module per concern: ``files`` (which kind of file, then its rows),
``csv_text`` (CSV with its encoding detected), ``xlsx`` (XLSX within the limits on its
unpacked parts), ``columns`` (header names), ``rows`` (validation of a row), ``writing``
(the set-based write), ``report`` (refusals and the report).
"""
import itertools

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from lib.mail_domain import domain_check
from mailings.models import Client

from .columns import COLUMN_ALIASES
from .csv_text import ENCODING_NAMES
from .files import read_rows
from .report import (
    ImportRefused,
    ImportReport,
    RowError,
    check_size,
    max_import_bytes,
    too_big_message,
)
from .rows import FileEmailValidator, valid_row
from .writing import ImportWriter

__all__ = [
    "BATCH_SIZE", "COLUMN_ALIASES", "ImportRefused", "ImportReport", "RowError", "check_size", "import_clients",
    "max_import_bytes", "read_rows", "too_big_message",
]

BATCH_SIZE = 2000


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
    first = next(rows, None)
    if first is None:
        raise ImportRefused(_("The file has a header but no rows to import."))
    # A first import (the owner has no clients yet) cannot meet a known address: skip the
    # look-ups. A concurrent import of the same owner then ends in IntegrityError (refused).
    writer = ImportWriter(owner, client_list, lookup=Client.objects.filter(owner=owner).exists())
    writer.write(_valid_batches(itertools.chain([first], rows), report))
    writer.finish(report)


def _valid_batches(rows, report):
    """The valid rows as (line, email, full_name, comment), BATCH_SIZE at a time; the
    invalid ones are reported as they are met."""
    validate_email = FileEmailValidator()
    mx_check = domain_check()  # None while EMAIL_CHECK_MX is off: no cost per row
    batch = []
    for line, values in rows:
        client = valid_row(line, values, report, validate_email)
        if client and mx_check and (reason := mx_check.refusal(client[1])):
            report.add_error(line, reason)
            client = None
        if client:
            batch.append(client)
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch
