"""XLSX bombs are refused before openpyxl parses them (issue #9, item 10).

A workbook is a zip of XML: a small file can unpack to gigabytes or hold millions of
shared strings, which openpyxl keeps in memory. The limits are checked on what the file
unpacks to, and the refusal names the limit.
"""
import io
import zipfile

import pytest

from mailings import importing
from mailings.importing import ImportRefused, import_clients
from mailings.models import Client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

MAIN = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
SST_HEAD = b'<?xml version="1.0" encoding="UTF-8"?><sst ' + MAIN + b'><si><t>email</t></si><si><t>ann@example.com</t></si>'
SHEET_HEAD = b'<?xml version="1.0" encoding="UTF-8"?><worksheet ' + MAIN + b'>'
SHEET = SHEET_HEAD + (b'<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row>'
                      b'<row r="2"><c r="A2" t="s"><v>1</v></c></row></sheetData></worksheet>')
PACKAGE = "http://schemas.openxmlformats.org/package/2006"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
PARTS = {
    "[Content_Types].xml": (
        f'<Types xmlns="{PACKAGE}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{TYPE}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{TYPE}.worksheet+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{TYPE}.sharedStrings+xml"/></Types>'
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{PACKAGE}/relationships">'
        f'<Relationship Id="rId1" Type="{OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{OFFICE}">'
        '<sheets><sheet name="Clients" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{PACKAGE}/relationships">'
        f'<Relationship Id="rId1" Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{OFFICE}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
    ),
}


def workbook(replace=None, head=b"", repeated=b"", times=0, tail=b""):
    """A minimal real workbook (header "email", one client), written by hand so each part is known.

    ``replace`` names the part written instead as head + repeated * times + tail, streamed
    into the zip, so a part of gigabytes costs the test little memory.
    """
    parts = {**{name: text.encode() for name, text in PARTS.items()},
             "xl/worksheets/sheet1.xml": SHEET, "xl/sharedStrings.xml": SST_HEAD + b"</sst>"}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in parts.items():
            if name != replace:
                target.writestr(name, content)
        if replace:
            info = zipfile.ZipInfo(replace)
            info.compress_type = zipfile.ZIP_DEFLATED
            with target.open(info, "w", force_zip64=True) as part:
                part.write(head)
                block = repeated * 10_000
                for _ in range(times // 10_000):
                    part.write(block)
                part.write(tail)
    out.seek(0)
    return out


def test_the_workbook_of_the_tests_is_a_real_one(alice):
    report = import_clients(owner=alice, file=workbook())
    assert report.created == 1
    assert Client.objects.get().email == "ann@example.com"


def test_millions_of_shared_strings_are_refused_before_parsing(alice):
    bomb = workbook("xl/sharedStrings.xml", SST_HEAD, b"<si><t/></si>", 3_000_000, b"</sst>")
    assert len(bomb.getvalue()) < 1_000_000  # small on disk

    with pytest.raises(ImportRefused) as refused:
        import_clients(owner=alice, file=bomb)

    assert "more than 500,000 distinct texts" in str(refused.value)
    assert not Client.objects.exists()


def test_a_shared_strings_part_that_unpacks_past_its_limit_is_refused(alice):
    bomb = workbook("xl/sharedStrings.xml", SST_HEAD, b"<si><t>" + b"a" * 500 + b"</t></si>", 120_000, b"</sst>")

    with pytest.raises(ImportRefused) as refused:
        import_clients(owner=alice, file=bomb)

    assert "xl/sharedStrings.xml unpacks to 59 MB; the limit is 50 MB" in str(refused.value)
    assert not Client.objects.exists()


def test_a_sheet_that_unpacks_to_gigabytes_is_refused(alice):
    bomb = workbook("xl/worksheets/sheet1.xml", SHEET_HEAD + b"<sheetData>", b"<row/>" * 100, 400_000,
                     b"</sheetData></worksheet>")
    assert len(bomb.getvalue()) < 2_000_000

    with pytest.raises(ImportRefused) as refused:
        import_clients(owner=alice, file=bomb)

    assert "unpacks to 228 MB; the limit is 200 MB" in str(refused.value)
    assert not Client.objects.exists()


def test_a_sheet_declaring_a_million_rows_is_stopped_at_the_row_limit(alice, monkeypatch):
    sheet = (b'<dimension ref="A1:XFD1048576"/><sheetData>'
             b'<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>'
             b'<row r="2"><c r="A2" t="inlineStr"><is><t>ann@example.com</t></is></c></row>'
             b'<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>zed@example.com</t></is></c></row>')
    bomb = workbook("xl/worksheets/sheet1.xml", SHEET_HEAD + sheet, b"", 0, b"</sheetData></worksheet>")

    with pytest.raises(ImportRefused) as refused:
        import_clients(owner=alice, file=bomb)

    assert "more than 300,000 rows" in str(refused.value)
    assert not Client.objects.exists()


def test_a_wide_row_is_read_up_to_the_column_limit(alice):
    sheet = (b'<dimension ref="A1:XFD2"/><sheetData>'
             b'<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>'
             b'<row r="2"><c r="A2" t="inlineStr"><is><t>ann@example.com</t></is></c>'
             b'<c r="XFD2" t="inlineStr"><is><t>far away</t></is></c></row>')
    wide = workbook("xl/worksheets/sheet1.xml", SHEET_HEAD + sheet, b"", 0, b"</sheetData></worksheet>")
    rows, encoding = importing.read_rows(wide)
    assert encoding is None
    assert list(rows) == [(2, {"email": "ann@example.com"})]
