"""Reading a CSV file as a stream: its text encoding and delimiter detected from its start."""
import codecs
import csv
import io

import charset_normalizer
from django.utils.translation import gettext as _

from .report import ImportRefused

# Single-byte encodings a spreadsheet saved "as CSV" comes in, here: Russian and Western
# European Windows, and KOI8-R. Detection chooses among these only: on a short file an
# unrestricted guess is often an exotic code page.
DETECTED_ENCODINGS = ["cp1251", "cp1252", "koi8_r"]
ENCODING_NAMES = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1251": "Windows-1251", "cp1252": "Windows-1252 (Latin-1)",
    "koi8_r": "KOI8-R",
}


def text_encoding(head):
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


def csv_rows(binary, head, encoding):
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

