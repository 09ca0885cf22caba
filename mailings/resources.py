"""django-import-export resource of a user's clients.

The admin exports through it. Imports in the admin go through ``mailings.importing``
(streamed and batched); this resource's own row-by-row import is kept, scoped to one
owner, as the reference that ``bench/import_clients.py`` measures against.
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
        import_id_fields = ("email",)
        skip_unchanged = True

    def __init__(self, owner=None, **kwargs):
        super().__init__(**kwargs)
        self.owner = owner

    def get_queryset(self):
        """Import matches rows against the owner's clients only."""
        return Client.objects.filter(owner=self.owner)

    def before_import_row(self, row, **kwargs):
        if row.get("email"):
            row["email"] = Client.normalize_email(row["email"])

    def before_save_instance(self, instance, row, **kwargs):
        instance.owner = self.owner

    def get_user_visible_fields(self):
        return [self.fields[name] for name in ("email", "full_name", "comment")]

    def export_field(self, field, instance, **kwargs):
        return escape_formula(super().export_field(field, instance, **kwargs))
