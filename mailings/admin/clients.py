"""Clients: list, search, import (mailings.importing) and export (mailings.resources)."""
from django.contrib import admin
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import XLSX
from unfold.contrib.import_export.forms import ExportForm
from unfold.decorators import display

from mailings import importing
from mailings.admin.base import OwnedAdmin
from mailings.forms import ClientForm, ClientImportForm
from mailings.models import Client
from mailings.resources import ClientResource
from mailings.spreadsheets import ExcelCSV


class UnsubscribedFilter(admin.SimpleListFilter):
    title = _("subscription")
    parameter_name = "subscribed"

    def lookups(self, request, model_admin):
        return [("yes", _("subscribed")), ("no", _("unsubscribed"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(unsubscribed_at__isnull=self.value() == "yes")
        return queryset


@admin.register(Client)
class ClientAdmin(OwnedAdmin, ImportExportModelAdmin):
    form = ClientForm
    resource_classes = [ClientResource]
    export_form_class = ExportForm
    # The two files a spreadsheet opens as it is (the report offers the same two).
    export_formats = [ExcelCSV, XLSX]
    import_template_name = "admin/mailings/client/import.html"
    list_display = ["email", "full_name", "subscribed", "created_at"]
    search_fields = ["email", "full_name"]
    list_filter = [UnsubscribedFilter, "created_at"]
    date_hierarchy = "created_at"
    readonly_fields = ["unsubscribed_at", "created_at", "updated_at"]
    fields = ["email", "full_name", "comment", "unsubscribed_at", "created_at", "updated_at"]

    @display(description=_("subscribed"), boolean=True, ordering="unsubscribed_at")
    def subscribed(self, client):
        return client.unsubscribed_at is None

    # Import goes through mailings.importing (streamed, batched, owner-scoped); export uses
    # the library with ClientResource (which escapes formulas) on this admin's scoped queryset.
    def has_import_permission(self, request):
        return self.has_add_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def import_action(self, request, **kwargs):
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ClientImportForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["import_file"]
            try:
                report = importing.import_clients(
                    owner=request.user, file=upload, all_or_nothing=form.cleaned_data["all_or_nothing"]
                )
            except importing.ImportRefused as refused:
                form.add_error("import_file", str(refused))
            else:
                self._log_import(request, upload.name, report)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import clients"),
            "opts": self.model._meta,
            "form": form,
            "report": report,
            "media": self.media + form.media,
            "max_mb": importing.max_import_bytes() // (1024 * 1024),
        }
        request.current_app = self.admin_site.name
        return render(request, self.import_template_name, context)

    def process_import(self, request, **kwargs):
        """The library's confirmation step is not used: the import page does everything."""
        return HttpResponseRedirect(reverse("admin:mailings_client_import"))

    def _log_import(self, request, filename, report):
        """One admin-log line per import (not one per row: an import can have 100,000)."""
        if report.rolled_back or not (report.created or report.updated):
            return
        LogEntry.objects.create(
            user_id=request.user.pk,
            content_type=ContentType.objects.get_for_model(Client),
            object_repr=str(_("import of %(file)s") % {"file": filename})[:200],
            action_flag=ADDITION,
            change_message=str(
                _("Imported clients: %(created)d added, %(updated)d updated, %(errors)d rows refused.")
                % {"created": report.created, "updated": report.updated, "errors": report.error_count}
            ),
        )
