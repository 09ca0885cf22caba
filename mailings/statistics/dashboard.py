"""The admin start page's statistics, shaped for django-unfold's components.

The figures come from ``queries.dashboard`` (aggregate queries, cached briefly); this
module only shapes them: cards, a Chart.js line chart and tables. People without access to
mailings (content managers) get no statistics at all. ``config/dashboard.py`` hands the
result to unfold.
"""
from django.urls import reverse
from django.utils import formats
from django.utils.html import format_html
from django.utils.translation import gettext as _

from lib.dates import local_datetime
from mailings.models import MailingStatus, Periodicity
from mailings.statistics import charts, queries
from mailings.statistics.formatting import rate_text, returns_text


def shows_statistics(user):
    return user.is_active and user.has_perm("mailings.view_mailing")


def dashboard_stats(user):
    """What the admin start page shows ``user``, or None for people without access to mailings."""
    if not shows_statistics(user):
        return None
    data = queries.dashboard(user)
    stats = {
        **data,
        "cards": summary_cards(data),
        "status_cards": status_cards(data["by_status"]),
        "daily_chart": charts.daily_chart(data["daily"]),
        "chart_options": charts.options(stacked=False),
        "next_runs_table": next_runs_table(data["next_runs"], data["sees_all"]),
        "failures_table": failures_table(data["last_failures"]),
    }
    stats["paused_table"] = paused_table(data["paused"], data["sees_all"])
    if data["sees_all"]:
        stats["active_users_table"] = active_users_table(data["active_users"])
    stats["scope_label"] = _("All users") if data["sees_all"] else _("Your mailings")
    return stats


def summary_cards(data):
    totals, returns = data["totals"], data["returns"]
    titles = {
        "sent": _("Sent, last 30 days"),
        "failed": _("Failed, last 30 days"),
        "unknown": _("Unknown, last 30 days"),
    }
    cards = [
        {"key": key, "title": title, "value": formats.number_format(totals[key], force_grouping=True)}
        for key, title in titles.items()
    ]
    return cards + [
        {"key": "rate", "title": _("Success rate"), "value": rate_text(totals["rate"])},
        {"key": "bounce_rate", "title": _("Bounce rate"), "value": rate_text(returns["bounce_rate"]),
         "hint": returns_text("bounced", returns["bounced"], totals["sent"])},
        {"key": "complaint_rate", "title": _("Complaint rate"), "value": rate_text(returns["complaint_rate"]),
         "hint": returns_text("complained", returns["complained"], totals["sent"])},
    ]


def status_cards(by_status):
    labels = {**dict(MailingStatus.choices), "disabled": _("disabled")}
    return [{"key": key, "title": labels[key], "value": by_status[key]} for key in labels]


def mailing_link(pk, subject):
    url = reverse("admin:mailings_mailing_report", args=[pk])
    return format_html('<a class="text-primary-600" href="{}">#{} {}</a>', url, pk, subject)


def periodicity_label(value):
    return dict(Periodicity.choices).get(value, value)


def next_runs_table(rows, sees_all):
    headers = [_("Mailing"), _("Next run"), _("Periodicity")]
    if sees_all:
        headers.append(_("Owner"))
    return {
        "headers": headers,
        "rows": [
            [mailing_link(row["pk"], row["message__subject"]), local_datetime(row["next_run_at"]), periodicity_label(row["periodicity"])]
            + ([row["owner__email"]] if sees_all else [])
            for row in rows
        ],
    }


def failures_table(rows):
    return {
        "headers": [_("Time"), _("Recipient"), _("Mailing"), _("Server reply")],
        "rows": [
            [
                local_datetime(row["sent_at"] or row["attempt__started_at"]),
                row["email"],
                mailing_link(row["attempt__mailing_id"], row["attempt__mailing__message__subject"]),
                " ".join(filter(None, [str(row["smtp_code"] or ""), row["smtp_response"]])) or "—",
            ]
            for row in rows
        ],
    }


def active_users_table(rows):
    return {
        "headers": [_("User"), _("Deliveries"), _("Sent"), _("Failed"), _("Success rate"),
                    _("Bounce rate"), _("Complaint rate")],
        "rows": [
            [row["email"], row["total"], row["sent"], row["failed"], rate_text(row["rate"]),
             rate_text(row["bounce_rate"]), rate_text(row["complaint_rate"])]
            for row in rows
        ],
    }


def paused_table(rows, sees_all):
    headers = [_("Mailing"), _("Paused until"), _("Reason")]
    if sees_all:
        headers.insert(1, _("Owner"))
    return {
        "headers": headers,
        "rows": [
            [mailing_link(row["pk"], row["message__subject"])]
            + ([row["owner__email"]] if sees_all else [])
            + [local_datetime(row["paused_until"]), row["pause_reason"] or "—"]
            for row in rows
        ],
    }
