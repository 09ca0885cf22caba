"""Which column of a file holds what: the header's names, or e-mail, name, comment without one."""
from django.utils.translation import gettext as _

from .report import ImportRefused

# Header names people actually use (exports of this site, Excel in Russian, mail tools).
COLUMN_ALIASES = {
    "email": {"email", "e-mail", "e_mail", "mail", "адрес", "почта", "электронная почта", "email address"},
    "full_name": {"full_name", "full name", "name", "фио", "имя", "ф.и.о.", "полное имя"},
    "comment": {"comment", "comments", "note", "notes", "комментарий", "примечание"},
}
HEADERLESS_COLUMNS = ["email", "full_name", "comment"]


def columns_of(raw_rows):
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


def mapped(columns, first_data, raw_rows):
    if first_data:
        yield first_data[0], _row_dict(columns, first_data[1])
    for line, cells in raw_rows:
        if any(cells):
            yield line, _row_dict(columns, cells)


def _row_dict(columns, cells):
    return {name: cells[position] if position < len(cells) else None for position, name in columns.items()}
