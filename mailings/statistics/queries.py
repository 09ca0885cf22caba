"""What each figure means, the versioned cache of figures, and the dashboard's figures, built
from the outcome counts of each run (``DeliveryStat``) with aggregate queries. One mailing's
report is ``mailings.statistics.reports``; it uses the definitions and the cache here.

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
  delivery (mailings/bounces.py). Their rates are percentages of sent (``share_of_sent``).
- Test sends (``Attempt.kind == test``) go to the owner, not to clients: never counted.
- The dashboard's days are local days in ``settings.TIME_ZONE``; a delivery's moment is
  its ``sent_at`` (the time of its outcome), or its run's start when it has none.

Every figure comes from a constant number of aggregate queries over ``DeliveryStat`` (a few
rows per run and day, kept equal to a recount of the Delivery rows by ``rollup.catch_up``,
which runs before any figure is computed), whatever the number of deliveries; only the
lists of recipients read Delivery rows, a page at a time. Figures are cached for
``STATS_CACHE_SECONDS`` under versioned keys: finishing a run bumps
the versions of its mailing, its owner and the global scope (``invalidate_for_mailing``),
so nothing else is forgotten and ``cache.clear()`` is never needed.
"""
import hashlib
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from backoffice import permissions
from mailings.models import (
    Attempt,
    AttemptKind,
    Delivery,
    DeliveryStat,
    DeliveryStatus,
    Mailing,
    MailingStatus,
)
from mailings.statistics import rollup

SENT = (DeliveryStatus.SENT, DeliveryStatus.BOUNCED, DeliveryStatus.COMPLAINED)
BOUNCED = (DeliveryStatus.BOUNCED,)
COMPLAINED = (DeliveryStatus.COMPLAINED,)
RETURNED = BOUNCED + COMPLAINED
FAILED = (DeliveryStatus.FAILED, DeliveryStatus.DEFERRED)
UNKNOWN = (DeliveryStatus.UNKNOWN,)
DASHBOARD_DAYS = 30
LIST_LIMIT = 10


def cache_seconds():
    return settings.STATS_CACHE_SECONDS


def local_zone():
    return ZoneInfo(settings.TIME_ZONE)


def local_day_start(day):
    """The first moment of a local day (``TIME_ZONE``)."""
    return datetime(day.year, day.month, day.day, tzinfo=local_zone())


# --- Definitions as query expressions ---------------------------------------------------


def outcome_counts(prefix=""):
    """Sum(...) expressions for sent / failed / unknown / bounced / complained over (related)
    ``DeliveryStat`` rows."""
    def count(statuses):
        return Coalesce(Sum(f"{prefix}count", filter=Q(**{f"{prefix}status__in": statuses})), 0)

    return {
        "sent": count(SENT), "failed": count(FAILED), "unknown": count(UNKNOWN),
        "bounced": count(BOUNCED), "complained": count(COMPLAINED),
    }


def total_count(prefix=""):
    """Every delivery, whatever its status (pending and skipped included)."""
    return Coalesce(Sum(f"{prefix}count"), 0)


def success_rate(sent, failed):
    """Percentage of sent among decided deliveries, or None when nothing was decided."""
    decided = sent + failed
    return round(100 * sent / decided, 1) if decided else None


def with_rate(counts):
    counts = {key: counts.get(key) or 0 for key in ("sent", "failed", "unknown")}
    return {**counts, "rate": success_rate(counts["sent"], counts["failed"])}


def share_of_sent(count, sent):
    """A bounce or complaint rate: ``count`` as a percentage of the messages sent (accepted by
    the receiving server, those that bounced or were complained about later included), or
    None when nothing was sent. The one denominator of both rates."""
    return round(100 * count / sent, 1) if sent else None


def with_returns(counts):
    """Bounced and complained of ``counts`` (which hold ``sent`` too), with their rates."""
    sent, bounced, complained = (counts.get(key) or 0 for key in ("sent", "bounced", "complained"))
    return {
        "bounced": bounced, "complained": complained,
        "bounce_rate": share_of_sent(bounced, sent), "complaint_rate": share_of_sent(complained, sent),
    }


def counted_deliveries(user):
    """Delivery rows that count in statistics and that ``user`` may see (for lists of rows)."""
    deliveries = Delivery.objects.exclude(attempt__kind=AttemptKind.TEST)
    return permissions.scope_to_user(deliveries, user, "attempt__mailing__owner")


def counted_stats(user):
    """Outcome counts ``user`` may see (test sends are never rolled up, so never here)."""
    return permissions.scope_to_user(DeliveryStat.objects.all(), user, "attempt__mailing__owner")


def counted_attempts():
    return Attempt.objects.exclude(kind=AttemptKind.TEST)


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


def daily_outcomes(stats, first_day, days):
    """Sent / failed / unknown (and bounced / complained) per local day from ``first_day``,
    zero-filled, one query."""
    rows = (
        stats.filter(day__gte=first_day)
        .values("day")
        .annotate(**outcome_counts())
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    return [
        {"day": day, **with_rate(by_day.get(day, {})), **with_returns(by_day.get(day, {}))}
        for day in (first_day + timedelta(days=offset) for offset in range(days))
    ]


def sum_outcomes(daily):
    """Totals of a few already-aggregated days (a handful of dicts, not rows)."""
    return with_rate({key: sum(day[key] for day in daily) for key in ("sent", "failed", "unknown")})


def sum_returns(daily):
    """Bounces and complaints of a few already-aggregated days, with their rates."""
    return with_returns({key: sum(day[key] for day in daily) for key in ("sent", "bounced", "complained")})


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
        mailings.upcoming()
        .values("pk", "next_run_at", "periodicity", "message__subject", "owner__email")
    )
    return list(rows[:limit])


def runs_with_last_failures(stats, limit=LIST_LIMIT):
    """The newest runs that hold the last ``limit`` failures, found in the counts: scanning
    Delivery rows backwards for one user's failures would cross everyone else's rows."""
    runs = (
        stats.filter(status__in=FAILED).values("attempt_id").annotate(n=Sum("count"))
        .order_by("-attempt_id")
    )
    chosen, covered = [], 0
    for row in runs[:limit]:  # each run holds one failure at least
        chosen.append(row["attempt_id"])
        covered += row["n"]
        if covered >= limit:
            break
    return chosen


def last_failures(stats, deliveries, limit=LIST_LIMIT):
    rows = (
        deliveries.filter(attempt_id__in=runs_with_last_failures(stats, limit), status__in=FAILED)
        .order_by("-pk")
        .values(
            "pk", "email", "status", "smtp_code", "smtp_response", "sent_at",
            "attempt__started_at", "attempt__mailing_id", "attempt__mailing__message__subject",
        )
    )
    return list(rows[:limit])


def most_active_users(stats, limit=LIST_LIMIT):
    rows = (
        stats.values("attempt__mailing__owner_id", "attempt__mailing__owner__email")
        .annotate(total=total_count(), **outcome_counts())
        .order_by("-total", "attempt__mailing__owner__email")
    )
    return [
        {"email": row["attempt__mailing__owner__email"], "total": row["total"], **with_rate(row),
         **with_returns(row)}
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
    rollup.catch_up()
    mailings = Mailing.objects.visible_to(user)
    stats = counted_stats(user)
    first_day = today - timedelta(days=DASHBOARD_DAYS - 1)
    daily = daily_outcomes(stats, first_day, DASHBOARD_DAYS)
    data = {
        "sees_all": sees_all,
        "first_day": first_day,
        "last_day": today,
        "by_status": mailings_by_status(mailings),
        "daily": daily,
        "totals": sum_outcomes(daily),
        "returns": sum_returns(daily),
        "next_runs": next_runs(mailings),
        "last_failures": last_failures(stats, counted_deliveries(user)),
        "paused": paused_mailings(mailings, now),
    }
    if sees_all:
        data["active_users"] = most_active_users(stats.filter(day__gte=first_day))
    return data
