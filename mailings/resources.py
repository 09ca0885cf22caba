"""django-import-export resource of clients: the admin's export (CSV for Excel, XLSX).

The admin exports the rows of its own owner-scoped queryset through it; each cell is
escaped against formula injection. Imports do not use it: they go through
``mailings.importing`` (streamed, batched, owner-scoped), which reads the same column names
back (``importing.COLUMN_ALIASES``), so an exported file imports unchanged.

The export page lists the columns of the file (``get_user_visible_fields``): the same five,
in the same order, under the same names.
"""
from django.utils.translation import pgettext_lazy
from import_export import fields, resources

from mailings.models import Client
from mailings.spreadsheets import escape_formula, spreadsheet_datetime

# Column names in the person's language; the importer knows each of them.
COLUMN_NAMES = {
    "email": pgettext_lazy("spreadsheet column", "E-mail"),
    "full_name": pgettext_lazy("spreadsheet column", "Full name"),
    "comment": pgettext_lazy("spreadsheet column", "Comment"),
    "unsubscribed_at": pgettext_lazy("spreadsheet column", "Unsubscribed at"),
    "created_at": pgettext_lazy("spreadsheet column", "Added at"),
}


class ClientResource(resources.ModelResource):
    email = fields.Field(attribute="email", column_name=COLUMN_NAMES["email"])
    full_name = fields.Field(attribute="full_name", column_name=COLUMN_NAMES["full_name"])
    comment = fields.Field(attribute="comment", column_name=COLUMN_NAMES["comment"])
    unsubscribed_at = fields.Field(attribute="unsubscribed_at", column_name=COLUMN_NAMES["unsubscribed_at"])
    created_at = fields.Field(attribute="created_at", column_name=COLUMN_NAMES["created_at"])

    class Meta:
        model = Client
        fields = tuple(COLUMN_NAMES)
        export_order = fields

    def get_user_visible_fields(self):
        return self.get_export_fields()

    def dehydrate_unsubscribed_at(self, client):
        return spreadsheet_datetime(client.unsubscribed_at)

    def dehydrate_created_at(self, client):
        return spreadsheet_datetime(client.created_at)

    def export_field(self, field, instance, **kwargs):
        return escape_formula(super().export_field(field, instance, **kwargs))
