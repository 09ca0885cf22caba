"""One mailing's report: its runs with their counts, its failed, bounced or complained and
skipped recipients, and the same tables for the CSV / XLSX export
(``mailings.statistics.export``); one run's figures for its page.

The definitions (what counts as sent, failed, unknown; the rates) and the versioned cache
are those of ``mailings.statistics.queries`` (docs/statistics.md). A report sums the runs it
lists: its period and status filter select attempts (``started_at`` and attempt status),
and every figure is over their deliveries, read from ``DeliveryStat`` (a few rows per run);
only the lists of recipients read Delivery rows, a page at a time.
"""
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.paginator import Paginator

from mailings.models import (
    AttemptKind,
    CompactedDeliveries,
    Delivery,
    DeliveryStat,
    DeliveryStatus,
)
from mailings.statistics import rollup
from mailings.statistics.queries import (
    FAILED,
    RETURNED,
    cached,
    counted_attempts,
    local_day_start,
    mailing_version_key,
    outcome_counts,
    share_of_sent,
    success_rate,
    total_count,
    with_rate,
    with_returns,
)

PAGE_SIZE = 50
CHART_RUNS = 60


@dataclass(frozen=True)
class ReportFilter:
    """Which runs a report covers: local dates (inclusive) and an attempt status."""

    start: date | None = None
    end: date | None = None
    status: str = ""

    def apply(self, attempts, prefix=""):
        conditions = {}
        if self.start:
            conditions[f"{prefix}started_at__gte"] = local_day_start(self.start)
        if self.end:
            conditions[f"{prefix}started_at__lt"] = local_day_start(self.end + timedelta(days=1))
        if self.status:
            conditions[f"{prefix}status"] = self.status
        return attempts.filter(**conditions)


def report_attempts(mailing, filters):
    """The mailing's runs in the filter, newest first, each with its delivery counts."""
    attempts = filters.apply(counted_attempts().filter(mailing=mailing))
    return attempts.annotate(
        total=total_count("stats__"), **{f"n_{k}": v for k, v in outcome_counts("stats__").items()}
    ).order_by("-started_at", "-pk")


ATTEMPT_FIELDS = (
    "pk", "kind", "status", "started_at", "finished_at", "server_response", "recipients", "total",
    "n_sent", "n_failed", "n_unknown", "n_bounced", "n_complained",
)


def with_run_rate(row):
    return {
        **row, "rate": success_rate(row["n_sent"], row["n_failed"]),
        "bounce_rate": share_of_sent(row["n_bounced"], row["n_sent"]),
        "complaint_rate": share_of_sent(row["n_complained"], row["n_sent"]),
    }


def attempt_rows(attempts):
    return [with_run_rate(row) for row in attempts.values(*ATTEMPT_FIELDS)]


def report_recipients(mailing, filters, statuses):
    """Deliveries of the runs in the filter that have one of ``statuses``, newest run first."""
    deliveries = Delivery.objects.filter(
        attempt__mailing=mailing, status__in=statuses
    ).exclude(attempt__kind=AttemptKind.TEST)
    return filters.apply(deliveries, prefix="attempt__").order_by("-attempt__started_at", "pk")


def report_failures(mailing, filters):
    """Failed recipients of the runs in the filter, with the server's reply."""
    return report_recipients(mailing, filters, FAILED)


def report_returns(mailing, filters):
    """Bounced and complained recipients of the runs in the filter, with the words of the
    server that sent the bounce back (``smtp_response``, written by mailings/bounces.py)."""
    return report_recipients(mailing, filters, RETURNED)


def report_skipped(mailing, filters):
    """Recipients the runs in the filter skipped (unsubscribed, suppressed, deleted), with why."""
    return report_recipients(mailing, filters, (DeliveryStatus.SKIPPED,))


SKIPPED_FIELDS = ("pk", "email", "skip_reason", "attempt_id", "attempt__started_at")
RETURN_FIELDS = ("pk", "email", "status", "smtp_response", "sent_at", "attempt_id", "attempt__started_at")


FAILURE_FIELDS = (
    "pk", "email", "status", "smtp_code", "smtp_response", "sent_at", "tries",
    "attempt_id", "attempt__started_at",
)


def report_summary(mailing, filters, runs):
    stats = filters.apply(DeliveryStat.objects.filter(attempt__mailing=mailing), prefix="attempt__")
    counts = stats.aggregate(total=total_count(), **outcome_counts())
    compacted = filters.apply(
        CompactedDeliveries.objects.filter(attempt__mailing=mailing), prefix="attempt__"
    ).aggregate(n=total_count())["n"]
    return {
        **with_rate(counts), **with_returns(counts), "total": counts["total"], "runs": runs,
        "compacted": compacted,
    }


def page_of(queryset, number, fields, shape=dict):
    page = Paginator(queryset.values(*fields), PAGE_SIZE).get_page(number)
    return {
        "rows": [shape(row) for row in page.object_list],
        "number": page.number,
        "num_pages": page.paginator.num_pages,
        "count": page.paginator.count,
    }


def report(mailing, filters, attempts_page=1, failures_page=1, skipped_page=1, returns_page=1):
    """Summary, chart of runs and one page of each table, cached per mailing version."""
    params = (mailing.pk, filters, attempts_page, failures_page, skipped_page, returns_page)
    return cached(
        "report", mailing_version_key(mailing.pk), params,
        lambda: compute_report(mailing, filters, attempts_page, failures_page, skipped_page, returns_page),
    )


def compute_report(mailing, filters, attempts_page, failures_page, skipped_page=1, returns_page=1):
    rollup.catch_up()
    attempts = report_attempts(mailing, filters)
    attempts_table = page_of(attempts, attempts_page, ATTEMPT_FIELDS, with_run_rate)
    chart_runs = list(reversed(attempt_rows(attempts[:CHART_RUNS])))
    return {
        "summary": report_summary(mailing, filters, runs=attempts_table["count"]),
        "attempts": attempts_table,
        "chart_runs": chart_runs,
        "failures": page_of(report_failures(mailing, filters), failures_page, FAILURE_FIELDS),
        "skipped": page_of(report_skipped(mailing, filters), skipped_page, SKIPPED_FIELDS),
        "returns": page_of(report_returns(mailing, filters), returns_page, RETURN_FIELDS),
    }


def run_figures(attempt):
    """One run's counts and rates (its page), cached with its mailing's figures."""
    return cached(
        "run", mailing_version_key(attempt.mailing_id), attempt.pk,
        lambda: compute_run_figures(attempt.pk),
    )


def compute_run_figures(attempt_id):
    rollup.catch_up()
    counts = DeliveryStat.objects.filter(attempt_id=attempt_id).aggregate(**outcome_counts())
    return {**with_rate(counts), **with_returns(counts)}


def attempts_for_export(mailing, filters):
    rollup.catch_up()
    return attempt_rows(report_attempts(mailing, filters))


def failures_for_export(mailing, filters):
    return report_failures(mailing, filters).values(*FAILURE_FIELDS).iterator(chunk_size=2000)


def returns_for_export(mailing, filters):
    return report_returns(mailing, filters).values(*RETURN_FIELDS).iterator(chunk_size=2000)


def skipped_for_export(mailing, filters):
    return report_skipped(mailing, filters).values(*SKIPPED_FIELDS).iterator(chunk_size=2000)

