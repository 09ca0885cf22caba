"""Owner-scoped admin for clients, messages, mailings and their statistics.

Every queryset goes through ``permissions.scope_to_user`` and every write through
``permissions.can_edit_owned``, so another user's object answers 404 (it is simply not in
the queryset) and a manager's add/change/delete POST answers 403 whatever the form shows.
"""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from unfold.admin import ModelAdmin
from unfold.contrib.import_export.forms import ExportForm
from unfold.decorators import action, display

from backoffice import permissions
from lib.admin import confirm_action
from lib.sanitize import sanitize_html
from mailings import importing, scheduling
from mailings.admin.reports import MailingReportsAdminMixin
from mailings.admin.sending import AttemptSendingAdminMixin, MailingSendingAdminMixin
from mailings.forms import ClientForm, ClientImportForm, MailingForm, MessageForm
from mailings.models import Attempt, Client, Delivery, Mailing, Message
from mailings.rendering import Template as MessageTemplate
from mailings.resources import ClientResource


class NotFoundInsteadOfRedirect:
    """An object outside the user's queryset answers 404, not Django's redirect to the index."""

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404(_("No such object, or it is not yours."))


OWNER_PARAMETER = "owner"  # the mailing owner a mailing form's autocomplete asks for


def _is_mailing_autocomplete(request):
    """The admin's autocomplete view, asked for choices of a mailing's field."""
    match = request.resolver_match
    return (
        match is not None and match.url_name == "autocomplete"
        and request.GET.get("app_label") == Mailing._meta.app_label
        and request.GET.get("model_name") == Mailing._meta.model_name
    )


class OwnerAutocompleteMixin:
    """An autocomplete widget that asks for the choices of one owner (``owner_id``)."""

    owner_id = None

    def get_url(self):
        url = super().get_url()
        return f"{url}?{urlencode({OWNER_PARAMETER: self.owner_id})}" if self.owner_id else url


class OwnerAutocompleteSelect(OwnerAutocompleteMixin, AutocompleteSelect):
    pass


class OwnerAutocompleteSelectMultiple(OwnerAutocompleteMixin, AutocompleteSelectMultiple):
    pass


class OwnedAdmin(NotFoundInsteadOfRedirect, ModelAdmin):
    exclude = ["owner"]
    show_full_result_count = False
    list_per_page = 50

    def get_queryset(self, request):
        return permissions.scope_to_user(super().get_queryset(request), request.user)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and permissions.can_edit_owned(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and permissions.can_edit_owned(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and permissions.can_edit_owned(request.user, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # The form checks uniqueness and choices against the owner of the object.
        owner = obj.owner if obj is not None else request.user
        return type(form.__name__, (form,), {"owner": owner})

    def save_model(self, request, obj, form, change):
        if not change and not obj.owner_id:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if _is_mailing_autocomplete(request):
            # Offer only what the mailing form accepts: its owner's objects.
            owner_id = permissions.mailing_choices_owner(request.user, request.GET.get(OWNER_PARAMETER))
            queryset = queryset.filter(owner_id=owner_id) if owner_id else queryset.none()
        return queryset, may_have_duplicates

    def get_list_display(self, request):
        """Those who see everyone's objects also see whose they are."""
        columns = list(super().get_list_display(request))
        if permissions.sees_all_mailings(request.user) and "owner" not in columns:
            columns.insert(1, "owner")
        return columns

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if permissions.sees_all_mailings(request.user):
            filters.append("owner")
        return filters


# --- Clients ------------------------------------------------------------------------------


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

    def get_list_select_related(self, request):
        return ["owner"] if permissions.sees_all_mailings(request.user) else []

    # Import goes through mailings.importing (streamed, batched, owner-scoped); export uses
    # the library with ClientResource, which escapes formulas.
    def has_import_permission(self, request):
        return self.has_add_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_export_resource_kwargs(self, request, **kwargs):
        return {"owner": request.user}

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


# --- Messages -----------------------------------------------------------------------------

def sample_recipient():
    return {"full_name": str(_("Ivan Petrov")), "email": "ivan.petrov@example.com", "unsubscribe_url": "#"}


@admin.register(Message)
class MessageAdmin(OwnedAdmin):
    form = MessageForm
    list_display = ["subject", "mailing_count", "created_at"]
    search_fields = ["subject"]
    list_filter = ["created_at"]
    date_hierarchy = "created_at"
    readonly_fields = ["preview", "created_at", "updated_at"]

    def get_queryset(self, request):
        # Meta.ordering is dropped from aggregate queries; autocomplete pages need an order.
        return super().get_queryset(request).annotate(mailing_count=Count("mailings")).order_by("-created_at", "-pk")

    def get_list_select_related(self, request):
        return ["owner"] if permissions.sees_all_mailings(request.user) else []

    def get_fields(self, request, obj=None):
        fields = ["subject", "body"]
        return fields + ["preview", "created_at", "updated_at"] if obj else fields

    @display(description=_("mailings"), ordering="mailing_count")
    def mailing_count(self, message):
        return message.mailing_count

    @display(description=_("preview"))
    def preview(self, message):
        """The message as a sample recipient sees it (body sanitised again on display)."""
        sample = sample_recipient()
        # The same placeholder rule as the sending engine (mailings.rendering).
        subject = MessageTemplate(message.subject).render(sample)
        body = MessageTemplate(sanitize_html(message.body)).render(
            {key: escape(value) for key, value in sample.items()}
        )
        return format_html(
            '<div class="border border-base-200 rounded-default p-4 dark:border-base-700">'
            '<p class="text-sm text-base-500">{}: {}</p><p class="font-semibold mb-3">{}</p>'
            '<div class="prose max-w-none dark:prose-invert">{}</div></div>',
            _("To"),
            f"{sample['full_name']} <{sample['email']}>",
            subject,
            mark_safe(body),  # sanitised just above
        )


# --- Mailings -----------------------------------------------------------------------------


def last_attempt(field):
    latest = Attempt.objects.filter(mailing=OuterRef("pk")).order_by("-started_at")
    return Subquery(latest.values(field)[:1])


@admin.register(Mailing)
class MailingAdmin(MailingSendingAdminMixin, MailingReportsAdminMixin, OwnedAdmin):
    form = MailingForm
    autocomplete_fields = ["message", "clients"]
    list_display = [
        "__str__", "state", "periodicity", "start_at", "next_run_at",
        "last_attempt_at", "client_count", "is_enabled",
    ]
    list_filter = ["status", "is_enabled", "periodicity"]
    search_fields = ["message__subject"]
    date_hierarchy = "start_at"
    actions = ["disable_mailings", "enable_mailings"]
    # The sending mixin's buttons (send now, test, retry) come first, then disable / enable.
    actions_detail = [*MailingSendingAdminMixin.actions_detail, "disable_mailing_detail", "enable_mailing_detail"]
    readonly_fields = ["state", "client_count", "disabled_at", "disabled_by", "created_at", "updated_at"]
    exclude = ["owner", "disabled_at", "disabled_by", "paused_until", "pause_reason", "next_run_at", "status"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.autocomplete_fields:
            kwargs.setdefault("widget", OwnerAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using")))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name in self.autocomplete_fields:
            kwargs.setdefault(
                "widget", OwnerAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using"))
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # The autocompletes ask for the form owner's clients and messages, the only ones it saves.
        for name in self.autocomplete_fields:
            if name in form.base_fields:
                widget = form.base_fields[name].widget
                getattr(widget, "widget", widget).owner_id = form.owner.pk
        return form

    def get_fieldsets(self, request, obj=None):
        schedule = (_("Schedule"), {"fields": ["message", "clients", "start_at", "end_at", "periodicity"]})
        if obj is None:
            return [schedule]
        state = (
            _("State"),
            {"fields": ["state", *self.sending_readonly_fields, "client_count",
                        "disabled_at", "disabled_by", "created_at", "updated_at"]},
        )
        return [schedule, state]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("message", "owner", "disabled_by")
            .annotate(
                client_count=Count("clients", distinct=True),
                last_attempt_at=last_attempt("finished_at"),
            )
            .order_by("-start_at", "-pk")
        )

    @display(
        description=_("status"),
        label={_("created"): "info", _("running"): "warning", _("completed"): "success", _("disabled"): "danger"},
    )
    def state(self, mailing):
        """A disabled mailing is shown as such, whatever its schedule status."""
        return _("disabled") if not mailing.is_enabled else mailing.get_status_display()

    @display(description=_("clients"), ordering="client_count")
    def client_count(self, mailing):
        return mailing.client_count

    @display(description=_("last attempt"), ordering="last_attempt_at")
    def last_attempt_at(self, mailing):
        return mailing.last_attempt_at

    def save_related(self, request, form, formsets, change):
        # MailingSendingAdminMixin (first in the MRO) reschedules after the clients are saved.
        super().save_related(request, form, formsets, change)

    # Disable / enable: the owner, any manager, a superuser (permissions.can_toggle_mailing).
    def has_toggle_permission(self, request, object_id=None):
        if object_id is None:
            return self.has_view_permission(request) and request.user.is_active
        mailing = self.get_object(request, object_id)
        return mailing is not None and permissions.can_toggle_mailing(request.user, mailing)

    def has_disable_permission(self, request, object_id=None):
        mailing = self.get_object(request, object_id) if object_id else None
        return self.has_toggle_permission(request, object_id) and (mailing is None or mailing.is_enabled)

    def has_enable_permission(self, request, object_id=None):
        mailing = self.get_object(request, object_id) if object_id else None
        return self.has_toggle_permission(request, object_id) and (mailing is None or not mailing.is_enabled)

    @action(description=_("Disable selected mailings"), permissions=["toggle"])
    def disable_mailings(self, request, queryset):
        self._toggle_all(request, queryset, enable=False)

    @action(description=_("Enable selected mailings"), permissions=["toggle"])
    def enable_mailings(self, request, queryset):
        self._toggle_all(request, queryset, enable=True)

    @action(description=_("Disable"), permissions=["disable"], icon="pause_circle")
    def disable_mailing_detail(self, request, object_id):
        return self._toggle_one(request, object_id, enable=False)

    @action(description=_("Enable"), permissions=["enable"], icon="play_circle")
    def enable_mailing_detail(self, request, object_id):
        return self._toggle_one(request, object_id, enable=True)

    def _toggle_all(self, request, queryset, enable):
        done = sum(self._toggle(request, mailing, enable) for mailing in queryset)
        message = _("Enabled: %(count)d.") if enable else _("Disabled: %(count)d.")
        self.message_user(request, message % {"count": done}, messages.SUCCESS)

    def _toggle_one(self, request, object_id, enable):
        """GET asks for confirmation; POST (with its CSRF token) does it."""
        mailing = self.get_object(request, object_id)
        if mailing is None:
            raise Http404
        change_url = reverse("admin:mailings_mailing_change", args=[mailing.pk])
        if request.method != "POST":
            question = (
                _("Enable the mailing “%(mailing)s”? It runs again from its next due time.")
                if enable
                else _("Disable the mailing “%(mailing)s”? A run in progress stops at its next batch.")
            )
            return confirm_action(
                self, request, question % {"mailing": mailing}, _("Enable") if enable else _("Disable"), change_url
            )
        if self._toggle(request, mailing, enable):
            self.message_user(request, _("The mailing is enabled.") if enable else _("The mailing is disabled."))
        return HttpResponseRedirect(change_url)

    def _toggle(self, request, mailing, enable):
        """Apply one change if allowed and needed; recorded in the admin log. True if done."""
        if not permissions.can_toggle_mailing(request.user, mailing) or mailing.is_enabled == enable:
            return False
        if enable:
            scheduling.enable_mailing(mailing=mailing, actor=request.user)
            self.log_change(request, mailing, str(_("Enabled the mailing.")))
        else:
            scheduling.disable_mailing(mailing=mailing, actor=request.user)
            self.log_change(request, mailing, str(_("Disabled the mailing.")))
        return True


# --- Statistics: read-only for everyone ---------------------------------------------------


class ReadOnlyAdmin(NotFoundInsteadOfRedirect, ModelAdmin):
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Attempt)
class AttemptAdmin(AttemptSendingAdminMixin, ReadOnlyAdmin):
    list_display = ["mailing", "kind", "started_at", "finished_at", "status", "recipients", "sent", "failed"]
    list_select_related = ["mailing__message"]
    list_filter = ["status", "kind"]
    search_fields = ["mailing__message__subject"]
    date_hierarchy = "started_at"

    def get_queryset(self, request):
        return permissions.scope_to_user(super().get_queryset(request), request.user, "mailing__owner")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["email", "status", "smtp_code", "sent_at", "attempt"]
    list_select_related = ["attempt__mailing__message"]
    list_filter = ["status"]
    search_fields = ["email"]

    def get_queryset(self, request):
        return permissions.scope_to_user(
            super().get_queryset(request), request.user, "attempt__mailing__owner"
        )
