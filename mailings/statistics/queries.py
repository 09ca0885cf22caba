"""Statistics built from Attempt and Delivery rows with aggregate queries.

Definitions (also in docs/statistics.md):

- **sent**: deliveries the receiving server accepted: status ``sent``, and ``bounced`` or
  ``complained`` (accepted first; what came back later is counted on its own).
- **failed**: status ``failed`` (permanent, 5xx) plus ``deferred`` (a temporary failure
  that was never turned into a delivery: once a retry succeeds the row becomes ``sent``).
- **unknown**: status ``unknown`` (the message may have been delivered: the worker died
  inside its SMTP transaction, or the server's verdict after the data never came clearly).
- **success rate**: sent / (sent + failed). Unknown, pending, claimed, sending and skipped rows
  are left out: they are neither a success nor a failure.
- **bounced** / **complained**: a hard bounce or a spam complaint came back for the
  delivery (mailings/bounces.py); their rates are over sent.
- Test sends (``Attempt.kind == test``) go to the owner, not to clients: never counted.
- The dashboard's days are local days in ``settings.TIME_ZONE``; a delivery's moment is
  its ``sent_at`` (the time of its outcome), or its run's start when it has none.
- A report sums the runs it lists: its period and status filter select attempts
  (``started_at`` and attempt status), and every figure is over their deliveries.

Every figure comes from a constant number of aggregate queries, whatever the data size,
and is cached for ``STATS_CACHE_SECONDS`` under versioned keys: finishing a run bumps
the versions of its mailing, its owner and the global scope (``invalidate_for_mailing``),
so nothing else is forgotten and ``cache.clear()`` is never needed.
"""
import hashlib
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from backoffice import permissions
from mailings.models import (
    Attempt,
    AttemptKind,
    Delivery,
    DeliveryStatus,
    Mailing,
    MailingStatus,
)

SENT = (DeliveryStatus.SENT, DeliveryStatus.BOUNCED, DeliveryStatus.COMPLAINED)
BOUNCED = (DeliveryStatus.BOUNCED,)
COMPLAINED = (DeliveryStatus.COMPLAINED,)
FAILED = (DeliveryStatus.FAILED, DeliveryStatus.DEFERRED)
UNKNOWN = (DeliveryStatus.UNKNOWN,)
DASHBOARD_DAYS = 30
LIST_LIMIT = 10
PAGE_SIZE = 50
CHART_RUNS = 60


def cache_seconds():
    return settings.STATS_CACHE_SECONDS


def local_zone():
    return ZoneInfo(settings.TIME_ZONE)


# --- Definitions as query expressions ---------------------------------------------------


def outcome_counts(prefix=""):
    """Count(...) expressions for sent / failed / unknown over (related) deliveries."""
    def count(statuses):
        return Count(f"{prefix}pk", filter=Q(**{f"{prefix}status__in": statuses}))

    return {"sent": count(SENT), "failed": count(FAILED), "unknown": count(UNKNOWN)}


def returned_counts(prefix=""):
    """Count(...) expressions for bounced / complained over (related) deliveries."""
    def count(statuses):
        return Count(f"{prefix}pk", filter=Q(**{f"{prefix}status__in": statuses}))

    return {"bounced": count(BOUNCED), "complained": count(COMPLAINED)}


def returned_rates(counts, sent):
    """Bounce and complaint rates (percent of sent), None when nothing was sent."""
    return {f"{key}_rate": round(100 * counts[key] / sent, 1) if sent else None
            for key in ("bounced", "complained")}


def success_rate(sent, failed):
    """Percentage of sent among decided deliveries, or None when nothing was decided."""
    decided = sent + failed
    return round(100 * sent / decided, 1) if decided else None


def with_rate(counts):
    counts = {key: counts.get(key) or 0 for key in ("sent", "failed", "unknown")}
    return {**counts, "rate": success_rate(counts["sent"], counts["failed"])}


def counted_deliveries(user):
    """Deliveries that count in statistics and that ``user`` may see."""
    deliveries = Delivery.objects.exclude(attempt__kind=AttemptKind.TEST)
    return permissions.scope_to_user(deliveries, user, "attempt__mailing__owner")


def counted_attempts():
    return Attempt.objects.exclude(kind=AttemptKind.TEST)


def delivery_moment():
    return Coalesce("sent_at", "attempt__started_at")


# --- Cache with versioned keys -----------------------------------------------------------

GLOBAL_VERSION = "stats:version:all"


def owner_version_key(owner_id):
    return f"stats:version:owner:{owner_id}"


def mailing_version_key(mailing_id):
    return f"stats:version:mailing:{mailing_id}"


def invalidate_for_mailing(mailing_id):
    """Forget cached figures that include this mailing; called when a run finishes.

    A new version for the mailing, its owner and the global scope makes every key built
    with an older one unreachable; those entries expire on their own shortly after.
    """
    owner_id = Mailing.objects.filter(pk=mailing_id).values_list("owner_id", flat=True).first()
    keys = [GLOBAL_VERSION, mailing_version_key(mailing_id)]
    if owner_id is not None:
        keys.append(owner_version_key(owner_id))
    new_versions(keys)
    # Called inside the run's transaction, a request before the commit would cache the old
    # figures under the new versions: once the rows are visible, move on once more.
    transaction.on_commit(lambda: new_versions(keys))


def forget_figures_of_mailing(sender, mailing_id=None, **kwargs):
    """Receiver of ``mailings.signals.figures_changed`` (connected in MailingsConfig.ready)."""
    if mailing_id is not None:
        invalidate_for_mailing(mailing_id)


def new_versions(keys):
    stamp = time.time_ns()
    cache.set_many({key: stamp for key in keys}, timeout=None)


def cached(name, version_key, params, compute):
    """``compute()`` cached under ``name``, the current value of ``version_key`` and params."""
    version = cache.get(version_key, 0)
    digest = hashlib.sha1(repr(params).encode()).hexdigest()[:16]
    key = f"stats:{name}:{version}:{digest}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, cache_seconds())
    return value


# --- Dashboard ---------------------------------------------------------------------------


def local_day_start(day):
    return datetime(day.year, day.month, day.day, tzinfo=local_zone())


def daily_outcomes(deliveries, first_day, days):
    """Sent / failed / unknown per local day from ``first_day``, zero-filled, one query."""
    since = local_day_start(first_day)
    rows = (
        deliveries.annotate(moment=delivery_moment())
        .filter(moment__gte=since)
        .annotate(day=TruncDate("moment", tzinfo=local_zone()))
        .values("day")
        .annotate(**outcome_counts())
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    return [
        {"day": day, **with_rate(by_day.get(day, {}))}
        for day in (first_day + timedelta(days=offset) for offset in range(days))
    ]


def sum_outcomes(daily):
    """Totals of a few already-aggregated days (a handful of dicts, not rows)."""
    return with_rate({key: sum(day[key] for day in daily) for key in ("sent", "failed", "unknown")})


def mailings_by_status(mailings):
    """Enabled mailings by status, plus the disabled ones as their own group."""
    counts = {status: 0 for status in MailingStatus.values}
    counts["disabled"] = 0
    rows = mailings.values("status", "is_enabled").annotate(n=Count("pk")).order_by()
    for row in rows:
        counts[row["status"] if row["is_enabled"] else "disabled"] += row["n"]
    return counts


def next_runs(mailings, limit=LIST_LIMIT):
    rows = (
        mailings.filter(is_enabled=True, next_run_at__isnull=False)
        .order_by("next_run_at")
        .values("pk", "next_run_at", "periodicity", "message__subject", "owner__email")
    )
    return list(rows[:limit])


def last_failures(deliveries, limit=LIST_LIMIT):
    rows = (
        deliveries.filter(status__in=FAILED)
        .order_by("-pk")
        .values(
            "pk", "email", "status", "smtp_code", "smtp_response", "sent_at",
            "attempt__started_at", "attempt__mailing_id", "attempt__mailing__message__subject",
        )
    )
    return list(rows[:limit])


def most_active_users(deliveries, limit=LIST_LIMIT):
    rows = (
        deliveries.values("attempt__mailing__owner_id", "attempt__mailing__owner__email")
        .annotate(total=Count("pk"), **outcome_counts())
        .order_by("-total", "attempt__mailing__owner__email")
    )
    return [
        {"email": row["attempt__mailing__owner__email"], "total": row["total"], **with_rate(row)}
        for row in rows[:limit]
    ]


def paused_mailings(mailings, now, limit=LIST_LIMIT):
    rows = (
        mailings.filter(paused_until__gt=now)
        .order_by("paused_until")
        .values("pk", "paused_until", "pause_reason", "message__subject", "owner__email")
    )
    return list(rows[:limit])


def dashboard(user, now=None):
    """Everything the dashboard shows for ``user``, scoped by role and cached briefly."""
    now = now or timezone.now()
    today = timezone.localtime(now, local_zone()).date()
    sees_all = permissions.sees_all_mailings(user)
    version_key = GLOBAL_VERSION if sees_all else owner_version_key(user.pk)
    scope = "all" if sees_all else user.pk
    return cached(
        "dashboard", version_key, (scope, today, settings.TIME_ZONE),
        lambda: compute_dashboard(user, now, today, sees_all),
    )


def compute_dashboard(user, now, today, sees_all):
    mailings = Mailing.objects.visible_to(user)
    deliveries = counted_deliveries(user)
    first_day = today - timedelta(days=DASHBOARD_DAYS - 1)
    daily = daily_outcomes(deliveries, first_day, DASHBOARD_DAYS)
    data = {
        "sees_all": sees_all,
        "first_day": first_day,
        "last_day": today,
        "by_status": mailings_by_status(mailings),
        "daily": daily,
        "totals": sum_outcomes(daily),
        "next_runs": next_runs(mailings),
        "last_failures": last_failures(deliveries),
        "paused": paused_mailings(mailings, now),
    }
    if sees_all:
        recent = deliveries.annotate(moment=delivery_moment()).filter(
            moment__gte=local_day_start(first_day)
        )
        data["active_users"] = most_active_users(recent)
    return data


# --- A mailing's report ------------------------------------------------------------------


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
        total=Count("deliveries"),
        **{f"n_{k}": v for k, v in {**outcome_counts("deliveries__"), **returned_counts("deliveries__")}.items()},
    ).order_by("-started_at", "-pk")


ATTEMPT_FIELDS = (
    "pk", "kind", "status", "started_at", "finished_at", "server_response", "recipients", "total",
    "n_sent", "n_failed", "n_unknown", "n_bounced", "n_complained",
)


def with_run_rate(row):
    returned = {"bounced": row["n_bounced"], "complained": row["n_complained"]}
    return {**row, "rate": success_rate(row["n_sent"], row["n_failed"]), **returned_rates(returned, row["n_sent"])}


def attempt_rows(attempts):
    return [with_run_rate(row) for row in attempts.values(*ATTEMPT_FIELDS)]


def report_failures(mailing, filters):
    """Failed recipients of the runs in the filter, with the server's reply."""
    deliveries = Delivery.objects.filter(
        attempt__mailing=mailing, status__in=FAILED
    ).exclude(attempt__kind=AttemptKind.TEST)
    return filters.apply(deliveries, prefix="attempt__").order_by("-attempt__started_at", "pk")


FAILURE_FIELDS = (
    "pk", "email", "status", "smtp_code", "smtp_response", "sent_at", "tries",
    "attempt_id", "attempt__started_at",
)


def report_summary(mailing, filters, runs):
    deliveries = filters.apply(
        Delivery.objects.filter(attempt__mailing=mailing).exclude(attempt__kind=AttemptKind.TEST),
        prefix="attempt__",
    )
    counts = deliveries.aggregate(total=Count("pk"), **outcome_counts(), **returned_counts())
    returned = {"bounced": counts["bounced"], "complained": counts["complained"]}
    return {**with_rate(counts), **returned, **returned_rates(returned, counts["sent"]),
            "total": counts["total"], "runs": runs}


def report_returns(mailing, filters):
    """Bounced and complained recipients of the runs in the filter, with the remote server's words."""
    deliveries = Delivery.objects.filter(
        attempt__mailing=mailing, status__in=BOUNCED + COMPLAINED
    ).exclude(attempt__kind=AttemptKind.TEST)
    return filters.apply(deliveries, prefix="attempt__").order_by("-attempt__started_at", "pk")


def page_of(queryset, number, fields, shape=dict):
    page = Paginator(queryset.values(*fields), PAGE_SIZE).get_page(number)
    return {
        "rows": [shape(row) for row in page.object_list],
        "number": page.number,
        "num_pages": page.paginator.num_pages,
        "count": page.paginator.count,
    }


def report(mailing, filters, attempts_page=1, failures_page=1, returns_page=1):
    """Summary, chart of runs and one page of each table, cached per mailing version."""
    params = (mailing.pk, filters, attempts_page, failures_page, returns_page)
    return cached(
        "report", mailing_version_key(mailing.pk), params,
        lambda: compute_report(mailing, filters, attempts_page, failures_page, returns_page),
    )


def compute_report(mailing, filters, attempts_page, failures_page, returns_page=1):
    attempts = report_attempts(mailing, filters)
    attempts_table = page_of(attempts, attempts_page, ATTEMPT_FIELDS, with_run_rate)
    chart_runs = list(reversed(attempt_rows(attempts[:CHART_RUNS])))
    return {
        "summary": report_summary(mailing, filters, runs=attempts_table["count"]),
        "attempts": attempts_table,
        "chart_runs": chart_runs,
        "failures": page_of(report_failures(mailing, filters), failures_page, FAILURE_FIELDS),
        "returns": page_of(report_returns(mailing, filters), returns_page, FAILURE_FIELDS),
    }


def attempts_for_export(mailing, filters):
    return attempt_rows(report_attempts(mailing, filters))


def failures_for_export(mailing, filters):
    return report_failures(mailing, filters).values(*FAILURE_FIELDS).iterator(chunk_size=2000)

