"""Spreadsheet files: protection of cells against formula (CSV) injection, CSV and XLSX writers.

Every export (clients, mailing reports) escapes with ``escape_formula``; the client import
undoes it with ``unescape_formula`` so that an exported file imports back unchanged.
"""
import csv

import tablib
from django.http import HttpResponse

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
    response.write("\ufeff")  # lets spreadsheet programs detect UTF-8
    writer = csv.writer(response)
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
