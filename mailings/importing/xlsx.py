"""Reading an XLSX workbook as a stream, after checking the limits on its unpacked parts."""
import re
import zipfile

from django.utils.translation import gettext as _

from .report import ImportRefused

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


def xlsx_rows(binary):
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
