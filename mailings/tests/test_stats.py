"""Figures of mailings.statistics.queries equal counts made row by row from the Delivery table."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from mailings.statistics import queries as stats
from mailings.statistics import reports
from mailings.models import AttemptKind, Delivery
from mailings.models import DeliveryStatus as S
from mailings.tests.factories import add_deliveries, direct_counts, make_attempt, make_mailing

pytestmark = pytest.mark.django_db


def window_start():
    zone = ZoneInfo(settings.TIME_ZONE)
    today = timezone.localtime(timezone.now(), zone).date()
    first = today - timedelta(days=stats.DASHBOARD_DAYS - 1)
    return datetime(first.year, first.month, first.day, tzinfo=zone)


def counted_rows(owner=None):
    """Reference rows: not a test send, in the last 30 local days, of ``owner`` (or anyone)."""
    rows = Delivery.objects.select_related("attempt__mailing")
    return [
        row for row in rows
        if row.attempt.kind != AttemptKind.TEST
        and (row.sent_at or row.attempt.started_at) >= window_start()
        and (owner is None or row.attempt.mailing.owner_id == owner.pk)
    ]


def test_a_users_dashboard_totals_equal_their_own_delivery_rows(outcomes, alice):
    data = stats.dashboard(alice)
    assert data["totals"] == direct_counts(counted_rows(alice))
    assert data["totals"] == {"sent": 5, "failed": 4, "unknown": 1, "rate": 55.6}


def test_a_managers_dashboard_totals_cover_every_owner(outcomes, manager):
    data = stats.dashboard(manager)
    assert data["totals"] == direct_counts(counted_rows())
    assert data["sees_all"]


def test_each_day_holds_the_deliveries_of_that_local_day(outcomes, alice):
    zone = ZoneInfo(settings.TIME_ZONE)
    daily = {day["day"]: day for day in stats.dashboard(alice)["daily"]}
    assert len(daily) == stats.DASHBOARD_DAYS
    expected = {}
    for row in counted_rows(alice):
        day = timezone.localtime(row.sent_at or row.attempt.started_at, zone).date()
        expected.setdefault(day, []).append(row)
    for day, rows in expected.items():
        assert {k: daily[day][k] for k in ("sent", "failed", "unknown")} == {
            k: direct_counts(rows)[k] for k in ("sent", "failed", "unknown")
        }
    assert sum(d["sent"] + d["failed"] + d["unknown"] for d in daily.values()) == 10


def test_days_are_moscow_days_not_utc_days(alice):
    zone = ZoneInfo("Europe/Moscow")
    yesterday = timezone.localtime(timezone.now(), zone).date() - timedelta(days=1)
    # 00:30 in Moscow is still the previous day in UTC (21:30).
    just_after_midnight = datetime(yesterday.year, yesterday.month, yesterday.day, 0, 30, tzinfo=zone)
    run = make_attempt(make_mailing(alice, 0), just_after_midnight)
    add_deliveries(run, S.SENT, 2, sent_at=just_after_midnight)
    daily = {day["day"]: day["sent"] for day in stats.dashboard(alice)["daily"]}
    assert daily[yesterday] == 2
    assert daily[yesterday - timedelta(days=1)] == 0


def test_test_sends_and_skipped_or_pending_rows_never_count(alice):
    mailing = make_mailing(alice, 0)
    test_send = make_attempt(mailing, timezone.now(), kind=AttemptKind.TEST)
    add_deliveries(test_send, S.SENT, 3, sent_at=timezone.now())
    run = make_attempt(mailing, timezone.now() - timedelta(hours=1))
    add_deliveries(run, S.SKIPPED, 2)
    add_deliveries(run, S.PENDING, 1)
    assert stats.dashboard(alice)["totals"] == {"sent": 0, "failed": 0, "unknown": 0, "rate": None}


def test_a_user_sees_only_their_own_lists(outcomes, alice, bob):
    data = stats.dashboard(alice)
    assert {row["pk"] for row in data["next_runs"]} == {outcomes["newsletter"].pk}
    assert {row["email"] for row in data["last_failures"]} <= {
        d.email for d in Delivery.objects.filter(attempt__mailing__owner=alice)
    }
    assert len(data["last_failures"]) == 4
    assert [row["pk"] for row in data["paused"]] == [outcomes["paused"].pk]
    assert "active_users" not in data
    assert stats.dashboard(bob)["totals"]["sent"] == 4
    assert stats.dashboard(bob)["paused"] == []


def test_mailings_by_status_counts_disabled_ones_apart(outcomes, alice):
    outcomes["paused"].is_enabled = False
    outcomes["paused"].save()
    assert stats.dashboard(alice)["by_status"] == {
        "created": 1, "running": 0, "completed": 0, "disabled": 1,
    }


def test_managers_see_active_users_and_paused_mailings(outcomes, manager, alice, bob):
    data = stats.dashboard(manager)
    users = {row["email"]: row for row in data["active_users"]}
    assert users[alice.email]["sent"] == 5 and users[alice.email]["failed"] == 4
    assert users[bob.email]["sent"] == 4 and users[bob.email]["failed"] == 3
    assert [row["pk"] for row in data["paused"]] == [outcomes["paused"].pk]
    assert data["paused"][0]["pause_reason"] == "Connection refused three times"


def test_figures_are_cached_until_a_run_of_the_mailing_finishes(outcomes, alice, bob):
    before = stats.dashboard(alice)["totals"]["sent"]
    bob_before = stats.dashboard(bob)["totals"]["sent"]
    run = make_attempt(outcomes["newsletter"], timezone.now())
    add_deliveries(run, S.SENT, 7, sent_at=timezone.now())
    assert stats.dashboard(alice)["totals"]["sent"] == before  # still the cached figure

    stats.invalidate_for_mailing(outcomes["newsletter"].pk)
    assert stats.dashboard(alice)["totals"]["sent"] == before + 7
    assert stats.dashboard(bob)["totals"]["sent"] == bob_before


def test_figures_cached_before_the_run_commits_are_forgotten_at_the_commit(
    outcomes, alice, django_capture_on_commit_callbacks
):
    before = stats.dashboard(alice)["totals"]["sent"]
    with django_capture_on_commit_callbacks(execute=True):
        stats.invalidate_for_mailing(outcomes["newsletter"].pk)
        # A request in between still sees the rows of before the commit, and caches them.
        assert stats.dashboard(alice)["totals"]["sent"] == before
        run = make_attempt(outcomes["newsletter"], timezone.now())
        add_deliveries(run, S.SENT, 3, sent_at=timezone.now())
    assert stats.dashboard(alice)["totals"]["sent"] == before + 3


def test_invalidating_a_mailing_refreshes_the_managers_view_too(outcomes, manager, bob):
    before = stats.dashboard(manager)["totals"]["sent"]
    add_deliveries(outcomes["bob_run"], S.SENT, 2, sent_at=timezone.now())
    stats.invalidate_for_mailing(outcomes["bobs"].pk)
    assert stats.dashboard(manager)["totals"]["sent"] == before + 2


def test_invalidating_an_unknown_mailing_is_harmless(outcomes, alice, bob, manager):
    """No owner to find: every user's cached figures survive; the managers' view moves on."""
    users = (alice, bob, manager)
    before = [stats.dashboard(user)["totals"]["sent"] for user in users]
    assert before == [5, 4, 9]
    add_deliveries(make_attempt(outcomes["newsletter"], timezone.now()), S.SENT, 7, sent_at=timezone.now())
    add_deliveries(outcomes["bob_run"], S.SENT, 2, sent_at=timezone.now())

    stats.invalidate_for_mailing(987654)

    # Alice's and Bob's figures are still the cached ones; the global scope was renewed.
    assert [stats.dashboard(user)["totals"]["sent"] for user in users] == [5, 4, 18]
    stats.invalidate_for_mailing(outcomes["newsletter"].pk)
    assert stats.dashboard(alice)["totals"]["sent"] == 12


def test_success_rate_is_sent_among_decided():
    assert stats.success_rate(0, 0) is None
    assert stats.success_rate(3, 1) == 75.0
    assert stats.success_rate(0, 5) == 0.0


def test_a_report_sums_exactly_the_runs_it_lists(outcomes):
    newsletter = outcomes["newsletter"]
    data = reports.report(newsletter, reports.ReportFilter())
    rows = list(Delivery.objects.filter(attempt__mailing=newsletter).exclude(attempt__kind="test"))
    summary = data["summary"]
    assert {k: summary[k] for k in ("sent", "failed", "unknown", "rate")} == direct_counts(rows)
    # 11 rows of the recent run (test sends excluded), 3 of the old one, 1 of the untimed one.
    assert len(rows) == 15
    assert summary["runs"] == 3 and summary["total"] == 15
    by_run = {row["pk"]: row for row in data["attempts"]["rows"]}
    assert outcomes["test_send"].pk not in by_run
    for attempt in (outcomes["recent"], outcomes["old"], outcomes["untimed"]):
        expected = direct_counts(list(attempt.deliveries.all()))
        row = by_run[attempt.pk]
        assert (row["n_sent"], row["n_failed"], row["n_unknown"], row["rate"]) == (
            expected["sent"], expected["failed"], expected["unknown"], expected["rate"]
        )


def test_a_report_filter_selects_runs_by_local_date_and_status(outcomes):
    newsletter = outcomes["newsletter"]
    today = timezone.localdate()
    last_week = reports.ReportFilter(start=today - timedelta(days=7), end=today)
    assert {r["pk"] for r in reports.report(newsletter, last_week)["attempts"]["rows"]} == {
        outcomes["recent"].pk, outcomes["untimed"].pk,
    }
    failures_only = reports.ReportFilter(status="failure")
    data = reports.report(newsletter, failures_only)
    assert {r["pk"] for r in data["attempts"]["rows"]} == {outcomes["recent"].pk, outcomes["untimed"].pk}
    assert data["summary"]["sent"] == 5 and data["summary"]["failed"] == 4
    assert {r["email"] for r in data["failures"]["rows"]} == {
        d.email for d in Delivery.objects.filter(
            attempt__mailing=newsletter, status__in=["failed", "deferred"]
        )
    }


def test_the_figures_changed_signal_forgets_the_figures_of_its_mailing(outcomes, alice):
    from mailings.signals import figures_changed

    before = stats.dashboard(alice)["totals"]["sent"]
    run = make_attempt(outcomes["newsletter"], timezone.now())
    add_deliveries(run, S.SENT, 2, sent_at=timezone.now())
    figures_changed.send(sender=None, mailing_id=None)  # no mailing named: nothing to forget
    assert stats.dashboard(alice)["totals"]["sent"] == before
    figures_changed.send(sender=None, mailing_id=outcomes["newsletter"].pk)
    assert stats.dashboard(alice)["totals"]["sent"] == before + 2
