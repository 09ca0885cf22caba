"""Statistics pages of a mailing (report, charts, export), mixed into MailingAdmin.

``/admin/mailings/mailing/<id>/report/`` shows every run with its counts and its bounce and
complaint rates, a chart of the runs, the failed recipients with the server's reply and the
bounced or complained recipients with the words of the server that sent the bounce; ``.../report/export/csv/`` and
``.../report/export/xlsx/`` download the same report. Filters (period and run status) are
GET parameters, so a filtered report is a link that can be shared.

The mailing is looked up with ``visible_mailing_or_404``: someone else's mailing answers
404. The figures come from ``mailings.statistics.reports``, the downloaded tables from
``mailings.statistics.export``.
"""
from datetime import timedelta
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.decorators import display

from mailings.admin.base import visible_mailing_or_404
from mailings.models import AttemptKind, AttemptStatus, DeliveryStatus, SkipReason
from mailings.spreadsheets import csv_response, xlsx_response
from mailings.statistics import charts, reports
from mailings.statistics.export import report_datasets
from mailings.statistics.formatting import rate_text
from mailings.statistics.forms import ReportFilterForm

WRITERS = {"csv": csv_response, "xlsx": xlsx_response}


def page_number(value):
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def with_labels(table, **choices):
    """A copy of a cached table whose rows also carry the display label of each choice."""
    rows = [
        {**row, **{f"{field}_label": dict(enum.choices).get(row[field], row[field])
                   for field, enum in choices.items()}}
        for row in table["rows"]
    ]
    return {**table, "rows": rows}


PERIOD_PRESETS = ((7, gettext_lazy("7 days")), (30, gettext_lazy("30 days")), (90, gettext_lazy("90 days")))


def period_links(request):
    """Links to the last 7 / 30 / 90 local days and to all time, keeping the status filter."""
    today = timezone.localdate()
    status = request.GET.get("status", "")
    links = []
    for days, label in PERIOD_PRESETS:
        params = QueryDict(mutable=True)
        params.update({"start": (today - timedelta(days=days - 1)).isoformat(), "end": today.isoformat()})
        if status:
            params["status"] = status
        links.append((label, "?" + params.urlencode()))
    links.append((_("All time"), "?" + urlencode({"status": status}) if status else "?"))
    return links


def export_url(mailing, fmt, form):
    """The export of exactly what the page shows: the same filter parameters."""
    url = reverse("admin:mailings_mailing_report_export", args=[mailing.pk, fmt])
    params = form.data.copy() if form.is_bound else None
    if params:
        for name in ("page", "fpage", "spage", "rpage"):
            params.pop(name, None)
        return f"{url}?{params.urlencode()}"
    return url


ATTEMPT_HEADERS = [
    gettext_lazy("Started at"), gettext_lazy("Last attempt at"), gettext_lazy("Kind"),
    gettext_lazy("Status"), gettext_lazy("Sent"), gettext_lazy("Failed"), gettext_lazy("Unknown"),
    gettext_lazy("Success rate"), gettext_lazy("Bounced"), gettext_lazy("Complained"),
    gettext_lazy("Mail server response"),
]
RETURN_HEADERS = [
    gettext_lazy("Run started at"), gettext_lazy("Recipient"), gettext_lazy("Status"),
    gettext_lazy("What the receiving server said"),
]
SKIPPED_HEADERS = [gettext_lazy("Run started at"), gettext_lazy("Recipient"), gettext_lazy("Why skipped")]
FAILURE_HEADERS = [
    gettext_lazy("Run started at"), gettext_lazy("Recipient"), gettext_lazy("Status"),
    gettext_lazy("Time"), gettext_lazy("Tries"), gettext_lazy("SMTP code"),
    gettext_lazy("SMTP response"),
]


def summary_cards(summary):
    """(label, value, key) of each figure above the report; key marks it for tests."""
    return [
        (_("Runs"), summary["runs"], "runs"),
        (_("Deliveries"), summary["total"], "total"),
        (_("Sent"), summary["sent"], "sent"),
        (_("Failed"), summary["failed"], "failed"),
        (_("Unknown"), summary["unknown"], "unknown"),
        (_("Success rate"), rate_text(summary["rate"]), "rate"),
        (_("Bounced"), summary["bounced"], "bounced"),
        (_("Bounce rate"), rate_text(summary["bounce_rate"]), "bounce_rate"),
        (_("Complained"), summary["complained"], "complained"),
        (_("Complaint rate"), rate_text(summary["complaint_rate"]), "complaint_rate"),
    ]


class MailingReportsAdminMixin:
    """Adds the per-mailing report URL, its export, and links to it."""

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/report/", view(self.report_view),
                 name="%s_%s_report" % info),
            path("<path:object_id>/report/export/<slug:fmt>/", view(self.report_export_view),
                 name="%s_%s_report_export" % info),
        ] + super().get_urls()

    def get_list_display(self, request):
        return [*super().get_list_display(request), "report_link"]

    @display(description=gettext_lazy("Report"))
    def report_link(self, obj):
        url = reverse("admin:mailings_mailing_report", args=[obj.pk])
        return format_html(
            '<a class="text-primary-600 report-link" href="{}">{}</a>', url, _("Report")
        )

    def reported_mailing(self, request, object_id):
        """The mailing if ``request.user`` may see it; 404 for someone else's."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return visible_mailing_or_404(request, object_id)

    def report_view(self, request, object_id):
        mailing = self.reported_mailing(request, object_id)
        form = ReportFilterForm(request.GET or None)
        filters = form.report_filter() if form.is_bound else reports.ReportFilter()
        data = reports.report(
            mailing, filters,
            attempts_page=page_number(request.GET.get("page")),
            failures_page=page_number(request.GET.get("fpage")),
            skipped_page=page_number(request.GET.get("spage")),
            returns_page=page_number(request.GET.get("rpage")),
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Report: %(mailing)s") % {"mailing": mailing},
            "mailing": mailing,
            "form": form,
            "report": {
                **data,
                "attempts": with_labels(data["attempts"], kind=AttemptKind, status=AttemptStatus),
                "failures": with_labels(data["failures"], status=DeliveryStatus),
                "skipped": with_labels(data["skipped"], skip_reason=SkipReason),
                "returns": with_labels(data["returns"], status=DeliveryStatus),
            },
            "summary_cards": summary_cards(data["summary"]),
            "attempt_headers": ATTEMPT_HEADERS,
            "failure_headers": FAILURE_HEADERS,
            "skipped_headers": SKIPPED_HEADERS,
            "return_headers": RETURN_HEADERS,
            "runs_chart": charts.runs_chart(data["chart_runs"]),
            "chart_options": charts.options(stacked=True),
            "export_links": [(fmt.upper(), export_url(mailing, fmt, form)) for fmt in WRITERS],
            "period_links": period_links(request),
            "change_url": reverse("admin:mailings_mailing_change", args=[mailing.pk]),
        }
        return TemplateResponse(request, "admin/mailings/mailing/report.html", context)

    def report_export_view(self, request, object_id, fmt):
        mailing = self.reported_mailing(request, object_id)
        if fmt not in WRITERS:
            raise Http404(_("Unknown export format."))
        filters = ReportFilterForm(request.GET).report_filter()
        return WRITERS[fmt](f"mailing-{mailing.pk}-report", report_datasets(mailing, filters))
