"""django-import-export resource of clients: the admin's export (CSV, XLSX, ...).

The admin exports the rows of its own owner-scoped queryset through it; each cell is
escaped against formula injection. Imports do not use it: they go through
``mailings.importing`` (streamed, batched, owner-scoped).
"""
from import_export import fields, resources

from mailings.models import Client
from mailings.spreadsheets import escape_formula


class ClientResource(resources.ModelResource):
    email = fields.Field(attribute="email", column_name="email")
    full_name = fields.Field(attribute="full_name", column_name="full_name")
    comment = fields.Field(attribute="comment", column_name="comment")

    class Meta:
        model = Client
        fields = ("email", "full_name", "comment", "unsubscribed_at", "created_at")
        export_order = fields

    def get_user_visible_fields(self):
        return [self.fields[name] for name in ("email", "full_name", "comment")]

    def export_field(self, field, instance, **kwargs):
        return escape_formula(super().export_field(field, instance, **kwargs))
