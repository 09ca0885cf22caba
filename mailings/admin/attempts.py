"""Runs (Attempt) and their deliveries: read-only records, with a live progress bar and the
run's bounce and complaint rates (``mailings.statistics.reports.run_figures``).

``/admin/mailings/attempt/<id>/progress/`` (``admin:mailings_attempt_progress``) serves the
figures of a run as JSON; the progress bar on a run's and a mailing's page polls it.
"""
from django.contrib import admin, messages
from django.db.models import Count
from django.http import Http404, JsonResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.decorators import display

from backoffice import permissions
from mailings import retention, services
from mailings.admin.base import ReadOnlyAdmin, visible_mailing
from mailings.models import Attempt, AttemptKind, AttemptStatus, Delivery, DeliveryStatus
from mailings.statistics import reports
from mailings.statistics.formatting import rate_text, returns_text

DELIVERIES_SHOWN = 100


AWAITING_PARAMETER = "awaiting"  # ?awaiting=<id of the run shown before a press>, 0 for none


def skipped_counts(attempt):
    """How many recipients were skipped, and why: (count, reason) pairs, most frequent first."""
    rows = (
        attempt.deliveries.filter(status=DeliveryStatus.SKIPPED)
        .values("smtp_response").annotate(n=Count("pk")).order_by("-n")
    )
    # Rows skipped when the run was prepared (unsubscribed then) carry no reason of their own.
    return [(row["n"], row["smtp_response"] or _("unsubscribed before the run")) for row in rows]


def attempt_progress(attempt):
    """The figures the progress bar shows (also served as JSON for live updates)."""
    skipped = skipped_counts(attempt)
    done = attempt.sent + attempt.failed + attempt.unknown
    return {
        "id": attempt.pk,
        "status": attempt.status,
        "status_display": attempt.get_status_display(),
        "sent": attempt.sent,
        "failed": attempt.failed,
        "unknown": attempt.unknown,
        "skipped": sum(count for count, _reason in skipped),
        "skipped_reasons": [f"{count}: {reason}" for count, reason in skipped],
        "total": attempt.recipients,
        "done": done,
        "running": attempt.status == AttemptStatus.RUNNING,
    }


def progress_html(attempt, *, mailing=None):
    """A progress bar that follows a run live.

    On a run's page it polls that run. On a mailing's page (``mailing`` given) it polls the
    mailing's newest run, so a run started by a button appears as soon as a worker claims it:
    the page opened after the press (``?awaiting=<run shown before>``) shows "queued" until
    then, instead of the previous run's figures.
    """
    if mailing is not None:
        url = reverse("admin:mailings_attempt_mailing_progress", args=[mailing.pk])
    else:
        url = reverse("admin:mailings_attempt_progress", args=[attempt.pk])
    empty = {"id": 0, "running": False, "skipped_reasons": []}
    return render_to_string("mailings/admin/progress.html", {
        "p": attempt_progress(attempt) if attempt else empty, "url": url, "follows_mailing": mailing is not None,
        "awaiting_parameter": AWAITING_PARAMETER,
    })


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = ["mailing", "kind", "started_at", "finished_at", "status", "recipients", "sent", "failed"]
    list_select_related = ["mailing__message"]
    list_filter = ["status", "kind"]
    search_fields = ["mailing__message__subject"]
    date_hierarchy = "started_at"
    readonly_fields = ["progress_display", "returns_display", "deliveries_display"]

    def get_queryset(self, request):
        return permissions.scope_to_user(super().get_queryset(request), request.user, "mailing__owner")

    def get_urls(self):
        custom = [
            path("<int:attempt_id>/progress/", self.admin_site.admin_view(self.progress_view),
                 name="mailings_attempt_progress"),
            path("mailing/<int:mailing_id>/progress/", self.admin_site.admin_view(self.mailing_progress_view),
                 name="mailings_attempt_mailing_progress"),
        ]
        return custom + super().get_urls()

    def progress_view(self, request, attempt_id):
        attempt = self.get_queryset(request).filter(pk=attempt_id).first()
        if attempt is None:
            raise Http404(_("No such attempt."))
        return JsonResponse(attempt_progress(attempt))

    def mailing_progress_view(self, request, mailing_id):
        """The progress of the mailing's newest run; {"id": 0} while it has none."""
        if visible_mailing(request, mailing_id) is None:
            raise Http404(_("No such mailing."))
        attempt = services.newest_run(mailing_id)
        return JsonResponse(attempt_progress(attempt) if attempt else {"id": 0, "running": False})

    @display(description=gettext_lazy("progress"))
    def progress_display(self, obj):
        return progress_html(obj)

    @display(description=gettext_lazy("bounces and complaints"))
    def returns_display(self, obj):
        """The run's bounce and complaint rates, from the same counts as its mailing's report."""
        if obj.kind == AttemptKind.TEST:
            return "—"  # a test send goes to the owner: never counted
        figures = reports.run_figures(obj)
        return format_html(
            '<p id="run-bounces">{}: <span data-figure="bounce_rate">{}</span> · {}</p>'
            '<p id="run-complaints">{}: <span data-figure="complaint_rate">{}</span> · {}</p>',
            _("Bounce rate"), rate_text(figures["bounce_rate"]),
            returns_text("bounced", figures["bounced"], figures["sent"]),
            _("Complaint rate"), rate_text(figures["complaint_rate"]),
            returns_text("complained", figures["complained"], figures["sent"]),
        )

    @display(description=gettext_lazy("deliveries"))
    def deliveries_display(self, obj):
        """Problems first, with the server's reply; the full list is the Delivery changelist."""
        rows = list(
            obj.deliveries.exclude(status=DeliveryStatus.SENT).order_by("pk")[:DELIVERIES_SHOWN]
        )
        rows += list(obj.deliveries.filter(status=DeliveryStatus.SENT).order_by("pk")[: DELIVERIES_SHOWN - len(rows)])
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((d.email, Delivery.status_label(d.status, d.skip_reason), d.smtp_code or "", d.smtp_response, d.tries)
             for d in rows),
        )
        link = reverse("admin:mailings_delivery_changelist") + f"?attempt__id__exact={obj.pk}"
        return format_html(
            '<table class="w-full text-sm"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            '</tr></thead><tbody>{}</tbody></table><p><a href="{}">{}</a></p>{}',
            _("e-mail"), _("status"), _("SMTP code"), _("SMTP response"), _("tries"), body, link,
            _("All %(count)s deliveries") % {"count": obj.recipients}, compacted_note(obj),
        )


def compacted_note(attempt):
    """What retention left of the run's rows: their count (the run's figures keep them)."""
    count = retention.compacted_count(attempt)
    if not count:
        return ""
    return format_html('<p class="mt-2" id="deliveries-compacted">{}</p>', _(
        "Deliveries compacted by retention: %(count)s. Their recipients are no longer listed; "
        "the run's figures still count them."
    ) % {"count": count})


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["email", "status_display", "smtp_code", "sent_at", "attempt"]
    list_select_related = ["attempt__mailing__message"]
    list_filter = ["status", "skip_reason"]
    search_fields = ["email"]

    def changelist_view(self, request, extra_context=None):
        """A recipient's history (this list searched by address) says what retention removed."""
        days = retention.retention_days()
        if days:
            messages.info(request, _(
                "Deliveries of runs started more than %(days)s days ago are compacted by retention: "
                "they are no longer listed here, and the statistics keep their totals."
            ) % {"days": days})
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request):
        return permissions.scope_to_user(
            super().get_queryset(request), request.user, "attempt__mailing__owner"
        )

    @display(description=gettext_lazy("status"), ordering="status")
    def status_display(self, obj):
        return Delivery.status_label(obj.status, obj.skip_reason)
