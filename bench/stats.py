"""Server time of the dashboard and of a mailing's report, cold and warm cache.

    .venv/bin/python bench/generate_stats_data.py      # once: the throwaway database
    .venv/bin/python bench/stats.py                    # REDIS_URL=... to use Redis

Requests go through Django's test client in this process (the whole server side: session,
middleware, queries, template), against ``BENCH_DATABASE_URL``. "Cold" follows
``invalidate_for_mailing`` (what the end of a run does); "warm" is the next request.
Reference figures measured in the same run: a plain ``SELECT count(*)`` over the
deliveries, and a full recount of the manager's 30-day totals and of the mailing's report
totals from the Delivery rows in SQL (what the pages cost before ``DeliveryStat``), which
must equal the pages' numbers. ``--naive`` adds the totals counted row by row in Python.
"""
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from generate_stats_data import BENCH_URL, database_reachable  # noqa: E402

ROUNDS = 5
SENT = ("sent", "bounced", "complained")  # accepted by the receiving server (docs/statistics.md)


def setup():
    os.environ["DATABASE_URL"] = BENCH_URL
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # no login chatter between the figures
    import warnings

    warnings.filterwarnings("ignore", message="No directory at")
    # A fresh cache namespace: nothing from an earlier run is warm.
    os.environ["CACHE_KEY_PREFIX"] = f"bench-stats-{uuid.uuid4().hex[:8]}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def timed_get(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, (url, response.status_code)
    return elapsed, len(queries)


def cold_and_warm(client, url, invalidate):
    cold, warm = [], []
    for _ in range(ROUNDS):
        invalidate()
        cold.append(timed_get(client, url))
        warm.append(timed_get(client, url))
    return cold, warm


def ms(samples):
    return f"{statistics.median(t for t, _ in samples) * 1000:8.1f} ms"


def queries(samples):
    counts = {n for _, n in samples}
    return "/".join(str(n) for n in sorted(counts))


def naive_totals(since):
    """The manager's 30-day totals, the slow way: every delivery row through Python."""
    from mailings.models import Delivery

    totals = {"sent": 0, "failed": 0, "unknown": 0}
    rows = Delivery.objects.values_list("status", "sent_at", "attempt__started_at", "attempt__kind")
    for status, sent_at, started_at, kind in rows.iterator(chunk_size=20000):
        if kind == "test" or (sent_at or started_at) < since:
            continue
        if status in SENT:
            totals["sent"] += 1
        elif status in ("failed", "deferred"):
            totals["failed"] += 1
        elif status == "unknown":
            totals["unknown"] += 1
    return totals


def recount_dashboard(since):
    """The manager's 30-day totals recounted from every Delivery row, in SQL."""
    from django.db.models import Count, Q
    from django.db.models.functions import Coalesce

    from mailings.models import Delivery

    rows = Delivery.objects.exclude(attempt__kind="test").annotate(
        moment=Coalesce("sent_at", "attempt__started_at")).filter(moment__gte=since)
    return rows.aggregate(
        sent=Count("pk", filter=Q(status__in=SENT)),
        failed=Count("pk", filter=Q(status__in=["failed", "deferred"])),
        unknown=Count("pk", filter=Q(status="unknown")),
        bounced=Count("pk", filter=Q(status="bounced")),
        complained=Count("pk", filter=Q(status="complained")),
    )


def recount_report(mailing):
    """The report's totals of one mailing recounted from its Delivery rows, in SQL."""
    from django.db.models import Count, Q

    from mailings.models import Delivery

    rows = Delivery.objects.filter(attempt__mailing=mailing).exclude(attempt__kind="test")
    return rows.aggregate(
        total=Count("pk"),
        sent=Count("pk", filter=Q(status__in=SENT)),
        failed=Count("pk", filter=Q(status__in=["failed", "deferred"])),
        unknown=Count("pk", filter=Q(status="unknown")),
        bounced=Count("pk", filter=Q(status="bounced")),
        complained=Count("pk", filter=Q(status="complained")),
    )


def timed(function, *args):
    started = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - started


def main():
    if not database_reachable(BENCH_URL):
        print(f"skipped: no PostgreSQL at {BENCH_URL} (set BENCH_DATABASE_URL)")
        return
    setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from backoffice.models import User
    from mailings.statistics import queries as stats
    from mailings.statistics import reports
    from mailings.models import Delivery, Mailing

    manager = User.objects.filter(email="manager@bench.example").first()
    if manager is None:
        print("skipped: no bench data; run bench/generate_stats_data.py first")
        return
    owner = User.objects.get(email="owner0@bench.example")
    mailing = Mailing.objects.filter(owner=owner).order_by("pk").first()
    total = Delivery.objects.count()
    print(f"database: {connection.vendor}, {total:,} deliveries, "
          f"{Mailing.objects.count():,} mailings; cache: {settings.CACHES['default']['BACKEND']}")

    def invalidate():
        stats.invalidate_for_mailing(mailing.pk)

    dashboard = reverse("admin:index")
    report = reverse("admin:mailings_mailing_report", args=[mailing.pk])
    pages = [
        ("dashboard, manager (all users)", manager, dashboard),
        ("dashboard, user (own mailings)", owner, dashboard),
        ("report of one mailing", owner, report),
        ("report, filtered + page 2", owner, report + "?status=success&start=2000-01-01&page=2&fpage=2"),
    ]
    print(f"{'page':34} {'cold (median)':>14} {'warm (median)':>14}   queries cold/warm")
    results = {}
    for label, user, url in pages:
        client = Client()
        client.force_login(user)
        timed_get(client, url)  # warm-up: imports, templates, URL resolver
        cold, warm = cold_and_warm(client, url, invalidate)
        results[label] = (cold, warm)
        print(f"{label:34} {ms(cold):>14} {ms(warm):>14}   {queries(cold)} / {queries(warm)}")

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("SELECT count(*) FROM mailings_delivery")
        cursor.fetchone()
        count_time = time.perf_counter() - started
    print(f"{'reference: SELECT count(*) deliveries':34} {count_time * 1000:11.1f} ms")

    data = stats.dashboard(manager)
    since = stats.local_day_start(data["first_day"])
    shown = {**{key: data["totals"][key] for key in ("sent", "failed", "unknown")},
             **{key: data["returns"][key] for key in ("bounced", "complained")}}
    recount, recount_time = timed(recount_dashboard, since)
    print(f"{'reference: dashboard recount (SQL)':34} {recount_time * 1000:11.1f} ms")
    assert recount == shown, (recount, shown)
    summary = reports.report(mailing, reports.ReportFilter())["summary"]
    report_recount, report_time = timed(recount_report, mailing)
    print(f"{'reference: report recount (SQL)':34} {report_time * 1000:11.1f} ms")
    assert report_recount == {key: summary[key] for key in report_recount}, (report_recount, summary)
    print(f"the pages' figures equal a full recount: dashboard {shown}, report {report_recount}")
    if "--naive" in sys.argv:
        naive, naive_time = timed(naive_totals, since)
        print(f"{'reference: naive Python totals':34} {naive_time * 1000:11.1f} ms")
        assert naive == {key: shown[key] for key in naive}, (naive, shown)


if __name__ == "__main__":
    main()
