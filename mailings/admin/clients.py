"""Clients: list, search, filters by list / subscription / suppression, bulk list actions,
import (mailings.importing, optionally into a list) and export (mailings.resources).

The bulk actions act on a page's selection or on "all N matching the filter" (Django's
select-across) in set-based SQL (mailings.lists): the selection is never loaded.
"""
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import ngettext
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import XLSX
from unfold.contrib.import_export.forms import ExportForm
from unfold.decorators import action, display

from mailings import importing, lists
from mailings.admin.base import EstimatedCountPaginator, OwnedAdmin
from mailings.admin.lists import mailing_form_url
from mailings.forms import ClientForm, ClientImportForm
from mailings.models import Client, ClientList, Suppression
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


class ListFilter(admin.SimpleListFilter):
    title = _("list")
    parameter_name = "list"

    def lookups(self, request, model_admin):
        visible = ClientList.objects.visible_to(request.user).order_by("name", "pk")
        return [(str(pk), name) for pk, name in visible.values_list("pk", "name")[:200]]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(lists__id=int(value))


def suppressed_address():
    return Exists(Suppression.objects.filter(owner_id=OuterRef("owner_id"), email=OuterRef("email")))


class SuppressedFilter(admin.SimpleListFilter):
    title = _("suppression list")
    parameter_name = "suppressed"

    def lookups(self, request, model_admin):
        return [("yes", _("on the suppression list")), ("no", _("not on it"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(suppressed_address())
        if self.value() == "no":
            return queryset.exclude(suppressed_address())
        return queryset


@admin.register(Client)
class ClientAdmin(OwnedAdmin, ImportExportModelAdmin):
    form = ClientForm
    paginator = EstimatedCountPaginator
    resource_classes = [ClientResource]
    export_form_class = ExportForm
    # The two files a spreadsheet opens as it is (the report offers the same two).
    export_formats = [ExcelCSV, XLSX]
    import_template_name = "admin/mailings/client/import.html"
    list_display = ["email", "full_name", "subscribed", "created_at"]
    search_fields = ["email", "full_name"]
    list_filter = [ListFilter, UnsubscribedFilter, SuppressedFilter, "created_at"]
    # No date_hierarchy: its two queries (MIN/MAX and DISTINCT day) read every matching row,
    # a million for a big list; the created_at filter does the same job at the cost of a page.
    actions = ["add_to_list", "remove_from_list", "create_mailing"]
    readonly_fields = ["unsubscribed_at", "created_at", "updated_at"]
    fields = ["email", "full_name", "comment", "lists", "unsubscribed_at", "created_at", "updated_at"]

    # --- bulk list actions: a page asks which list, its POST (back to this changelist,
    # with the same filters) does it -------------------------------------------------

    @action(description=_("Add to a list"), permissions=["change"])
    def add_to_list(self, request, queryset):
        return self._with_list(request, queryset, "add_to_list", self._added)

    @action(description=_("Remove from a list"), permissions=["change"])
    def remove_from_list(self, request, queryset):
        return self._with_list(request, queryset, "remove_from_list", self._removed, may_create=False)

    @action(description=_("Create a mailing for them"), permissions=["change"])
    def create_mailing(self, request, queryset):
        return self._with_list(request, queryset, "create_mailing", self._mailing_for)

    def _with_list(self, request, queryset, action_name, act, may_create=True):
        if not queryset.exists():
            # Nothing posted is in this admin's queryset (someone else's clients, or deleted
            # ones): no list is made, nothing changes.
            messages.warning(request, gettext(
                "Items must be selected in order to perform actions on them. No items have been changed."))
            return None
        client_list, error = self._chosen_list(request, may_create)
        if client_list is None:
            if error:
                messages.error(request, error)
            return self._choose_list_page(request, queryset, action_name, may_create)
        return act(request, queryset, client_list)

    def _chosen_list(self, request, may_create):
        """The list the chooser page named (an own list, or a new one); (None, why) if none."""
        if "client_list" not in request.POST and "new_list" not in request.POST:
            return None, None
        new_name = " ".join(request.POST.get("new_list", "").split())[:255] if may_create else ""
        if new_name:
            client_list = ClientList(owner=request.user, name=new_name)
            try:
                client_list.full_clean()
            except ValidationError as error:
                return None, " ".join(error.messages)
            client_list.save()
            return client_list, None
        client_list = lists.owned_list(request.user, request.POST.get("client_list", ""))
        return client_list, None if client_list else gettext("Choose one of your lists.")

    def _choose_list_page(self, request, queryset, action_name, may_create):
        select_across = request.POST.get("select_across") == "1"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": self.get_action(action_name)[2],
            "action_name": action_name,
            "lists": ClientList.objects.filter(owner=request.user).order_by("name"),
            "may_create": may_create,
            "default_name": gettext("Selection of %(date)s") % {"date": date_format(timezone.localtime(), "j E Y, H:i")}
            if action_name == "create_mailing" else "",
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": "1" if select_across else "0",
            "index": request.POST.get("index", "0"),
            "count": None if select_across else len(request.POST.getlist(ACTION_CHECKBOX_NAME)),
        }
        request.current_app = self.admin_site.name
        return render(request, "admin/mailings/client/choose_list.html", context)

    def _added(self, request, queryset, client_list):
        if lists.is_large(queryset, client_list):
            # A request adding a million rows would outlive the proxy's timeout.
            lists.add_to_list_in_background(queryset, client_list)
            self.message_user(request, format_html(
                gettext("More than {threshold} clients: they are being added to “{name}” in the background. "
                        "<a href=\"{url}\">The list's page</a> shows the progress."),
                threshold=lists.IN_BACKGROUND_ABOVE, name=client_list.name,
                url=reverse("admin:mailings_clientlist_change", args=[client_list.pk]),
            ), messages.SUCCESS)
            return None
        count = lists.add_to_list(queryset, client_list)
        self.message_user(request, ngettext(
            "%(count)d client joined the list “%(list)s”.", "%(count)d clients joined the list “%(list)s”.", count,
        ) % {"count": count, "list": client_list}, messages.SUCCESS)

    def _removed(self, request, queryset, client_list):
        count = lists.remove_from_list(queryset, client_list)
        self.message_user(request, ngettext(
            "%(count)d client left the list “%(list)s”.", "%(count)d clients left the list “%(list)s”.", count,
        ) % {"count": count, "list": client_list}, messages.SUCCESS)

    def _mailing_for(self, request, queryset, client_list):
        """The selection becomes a list; the new mailing's form opens with that list chosen.

        A large selection ("all 1,000,000 matching") joins the list in the worker, as "add
        to a list" does: the mailing form is offered on the list's page once the list is
        complete, so no mailing is made for a list still half filled.
        """
        if lists.is_large(queryset, client_list):
            lists.add_to_list_in_background(queryset, client_list)
            self.message_user(request, format_html(
                gettext("More than {threshold} clients: they are being added to “{name}” in the background. "
                        "<a href=\"{url}\">The list's page</a> shows the progress and, once the list is complete, "
                        "the link to create the mailing."),
                threshold=lists.IN_BACKGROUND_ABOVE, name=client_list.name,
                url=reverse("admin:mailings_clientlist_change", args=[client_list.pk]),
            ), messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:mailings_clientlist_change", args=[client_list.pk]))
        lists.add_to_list(queryset, client_list)
        return HttpResponseRedirect(mailing_form_url(client_list))

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
        form = ClientImportForm(request.POST or None, request.FILES or None, owner=request.user)
        report = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["import_file"]
            try:
                with transaction.atomic():  # a new list is kept only if the import wrote something
                    report = importing.import_clients(
                        owner=request.user, file=upload, all_or_nothing=form.cleaned_data["all_or_nothing"],
                        client_list=form.target_list(),
                    )
                    transaction.set_rollback(report.rolled_back)
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
