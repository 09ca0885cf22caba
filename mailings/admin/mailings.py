"""Mailings: the list, the form, schedule and state.

The buttons (disable / enable, send now, test, retry, pause / resume, duplicate) come from
``MailingSendingAdminMixin`` (mailings/admin/sending.py), the report pages from
``MailingReportsAdminMixin`` (mailings/admin/reports.py), the live reach count from
``MailingReachAdminMixin`` (mailings/admin/reach.py).
"""
from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.decorators import display

from lib.dates import local_datetime
from mailings import audience, services
from mailings.admin.attempts import progress_html
from mailings.admin.base import (
    OwnedAdmin,
    OwnerAutocompleteSelect,
    OwnerAutocompleteSelectMultiple,
)
from mailings.admin.reach import MailingReachAdminMixin, reach_text
from mailings.admin.reports import MailingReportsAdminMixin
from mailings.admin.sending import MailingSendingAdminMixin
from mailings.forms import MailingForm
from mailings.models import Attempt, Mailing


# The state column's word for a hold that stops sending (Mailing.hold decides which holds).
STOPPING_HOLD_LABELS = {
    Mailing.DISABLED: gettext_lazy("disabled"),
    Mailing.PAUSED: gettext_lazy("paused"),
    Mailing.OWNER_BLOCKED: gettext_lazy("owner blocked"),
}


def last_attempt(field):
    latest = Attempt.objects.filter(mailing=OuterRef("pk")).order_by("-started_at")
    return Subquery(latest.values(field)[:1])


@admin.register(Mailing)
class MailingAdmin(MailingSendingAdminMixin, MailingReachAdminMixin, MailingReportsAdminMixin, OwnedAdmin):
    form = MailingForm
    autocomplete_fields = ["message", "lists", "clients"]
    list_display = [
        "__str__", "state", "periodicity", "start_at", "next_run_at",
        "last_attempt_at", "client_count", "is_enabled",
    ]
    list_filter = ["status", "is_enabled", "periodicity"]
    search_fields = ["name", "message__subject"]
    date_hierarchy = "start_at"
    actions = ["disable_mailings", "enable_mailings"]
    # One primary button and a menu: six buttons in a row overflow a laptop's header and a phone.
    actions_detail = [
        "send_now_action",
        {
            "title": gettext_lazy("Other actions"),
            "icon": "more_vert",
            "items": [
                "send_test_action", "retry_failed_action", "duplicate_mailing_detail",
                "pause_mailing_detail", "resume_mailing_detail", "disable_mailing_detail", "enable_mailing_detail",
            ],
        },
    ]
    state_fields = [
        "reach_display", "state", "next_run_display", "last_attempt_display", "progress_display", "client_count",
        "disabled_at", "disabled_by", "created_at", "updated_at",
    ]
    readonly_fields = state_fields
    exclude = ["owner", "disabled_at", "disabled_by", "paused_until", "pause_reason", "paused_at", "paused_by", "next_run_at", "status"]

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
        schedule = (gettext_lazy("Schedule"), {"fields": [
            "name", "message", "lists", "clients", "all_clients", "start_at", "end_at", "periodicity",
        ]})
        if obj is None:
            return [schedule]
        return [schedule, (gettext_lazy("State"), {"fields": self.state_fields})]

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

    # --- displays -------------------------------------------------------------------

    @display(
        description=gettext_lazy("status"),
        label={
            gettext_lazy("created"): "info", gettext_lazy("running"): "warning",
            gettext_lazy("completed"): "success", gettext_lazy("disabled"): "danger",
            gettext_lazy("owner blocked"): "danger", gettext_lazy("paused"): "warning",
        },
    )
    def state(self, mailing):
        """A mailing held by its flag, its pause or its owner's block is shown so, whatever
        its schedule status: it does not send (Mailing.hold)."""
        return STOPPING_HOLD_LABELS.get(mailing.hold()) or mailing.get_status_display()

    @display(description=gettext_lazy("reach now"))
    def reach_display(self, mailing):
        """How many people a run would mail if it started now (lists as they are now)."""
        return reach_text(audience.reach_count(mailing))

    @display(description=gettext_lazy("clients"), ordering="client_count")
    def client_count(self, mailing):
        return mailing.client_count

    @display(description=gettext_lazy("last attempt"), ordering="last_attempt_at")
    def last_attempt_at(self, mailing):
        return mailing.last_attempt_at

    @display(description=gettext_lazy("next run"))
    def next_run_display(self, obj):
        if obj.hold() in Mailing.STOPPING_HOLDS:
            return obj.held_reason()
        if obj.paused_until and obj.paused_until > timezone.now():
            return format_html("{}<br>{}", _("paused until %(when)s") % {
                "when": local_datetime(obj.paused_until)}, obj.pause_reason)
        if obj.next_run_at is None:
            return _("none (completed)")
        return local_datetime(obj.next_run_at)

    def _last_attempt(self, obj):
        return services.newest_run(obj.pk)

    @display(description=gettext_lazy("last attempt"))
    def last_attempt_display(self, obj):
        attempt = self._last_attempt(obj)
        if attempt is None:
            return _("none yet")
        when = local_datetime(attempt.finished_at or attempt.started_at)
        counts = _("%(sent)d sent, %(failed)d failed") % {"sent": attempt.sent, "failed": attempt.failed}
        return format_html(
            '<a href="{}">{} · {}</a> · {}<br><span style="white-space:pre-line">{}</span>',
            reverse("admin:mailings_attempt_change", args=[attempt.pk]),
            when, attempt.get_status_display(), counts, attempt.server_response,
        )

    @display(description=gettext_lazy("progress"))
    def progress_display(self, obj):
        return progress_html(self._last_attempt(obj), mailing=obj)
