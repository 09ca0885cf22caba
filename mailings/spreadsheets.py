"""Protection of spreadsheet cells against formula (CSV) injection, in one place.

Every export (clients, mailing reports) escapes with ``escape_formula``; the client import
undoes it with ``unescape_formula`` so that an exported file imports back unchanged.
"""
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
