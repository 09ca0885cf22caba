"""One entry for reading a client file: CSV or XLSX told apart by their first bytes."""
import codecs

from django.utils.translation import gettext as _

from .columns import columns_of, mapped
from .csv_text import csv_rows, text_encoding
from .report import ImportRefused
from .xlsx import xlsx_rows

SNIFF_BYTES = 64 * 1024
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
        encoding, raw_rows = None, xlsx_rows(binary)
    else:
        encoding = text_encoding(head)
        raw_rows = csv_rows(binary, head, encoding)
    columns, first_data = columns_of(raw_rows)
    return mapped(columns, first_data, raw_rows), encoding
