"""Spreadsheet files: protection of cells against formula (CSV) injection, CSV and XLSX writers.

Every export (clients, mailing reports) escapes with ``escape_formula``; the client import
undoes it with ``unescape_formula`` so that an exported file imports back unchanged.

CSV is written the way Excel in a Russian locale opens it with a double click: UTF-8 with a
byte order mark (without it Excel reads Windows-1251) and ``;`` between cells (the list
separator where the decimal separator is a comma). The importer detects both.
"""
import csv

import tablib
from django.http import HttpResponse
from django.utils import timezone
from import_export.formats.base_formats import CSV

CSV_DELIMITER = ";"
BOM = "\ufeff"

# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value):
    """Prefix text a spreadsheet would run as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unescape_formula(text):
    """Undo ``escape_formula`` ("'=1+2" back to "=1+2")."""
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_STARTS:
        return text[1:]
    return text


def csv_response(filename, datasets):
    """One CSV file: each table under a title line, separated by an empty line."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    response.write(BOM)
    writer = csv.writer(response, delimiter=CSV_DELIMITER)
    for index, dataset in enumerate(datasets):
        if index:
            writer.writerow([])
        writer.writerow([dataset.title])
        writer.writerow(dataset.headers)
        writer.writerows(dataset)
    return response


def xlsx_response(filename, datasets):
    """One XLSX workbook: a sheet per table."""
    book = tablib.Databook(datasets)
    response = HttpResponse(
        book.export("xlsx"),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response


def spreadsheet_datetime(moment):
    """A moment in the user's time zone, in the form spreadsheets read as a date ("" if none).

    Screens use ``lib.dates.local_datetime``; a cell needs a form Excel recognises as a date.
    """
    if not moment:
        return ""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


class ExcelCSV(CSV):
    """import-export's CSV format, written like ``csv_response`` (BOM, ``;``)."""

    def export_data(self, dataset, **kwargs):
        return BOM + super().export_data(dataset, delimiter=CSV_DELIMITER, **kwargs)
