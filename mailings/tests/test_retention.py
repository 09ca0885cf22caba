"""Retention: delivery rows of old finished runs are compacted into counts; every figure the
dashboard, the report and its export show stays the same; a rebuild still recounts them."""
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from mailings import retention
from mailings.models import AttemptStatus, CompactedDeliveries, Delivery, DeliveryStat
from mailings.models import DeliveryStatus as S
from mailings.statistics import export
from mailings.statistics import queries as stats
from mailings.statistics import reports
from mailings.tests.factories import add_deliveries, make_attempt, make_mailing

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(alice):
    """Alice's mailing: a run 200 days ago, one 10 days ago, and one still running from long ago."""
    now = timezone.now()
    mailing = make_mailing(alice, 0)
    old = make_attempt(mailing, now - timedelta(days=200), status=AttemptStatus.FAILURE)
    add_deliveries(old, S.SENT, 7, sent_at=now - timedelta(days=200))
    add_deliveries(old, S.FAILED, 3, sent_at=now - timedelta(days=200), smtp_code=550, smtp_response="no")
    add_deliveries(old, S.SKIPPED, 1)
    recent = make_attempt(mailing, now - timedelta(days=10))
    add_deliveries(recent, S.SENT, 4, sent_at=now - timedelta(days=10))
    add_deliveries(recent, S.UNKNOWN, 1)
    paused = make_attempt(mailing, now - timedelta(days=300), status=AttemptStatus.PAUSED)
    add_deliveries(paused, S.PENDING, 2)
    return {"mailing": mailing, "old": old, "recent": recent, "paused": paused}


def every_figure(mailing, user, manager):
    """What the pages show: dashboards, the whole report, the exported tables."""
    stats.invalidate_for_mailing(mailing.pk)
    report = reports.report(mailing, reports.ReportFilter())
    runs = export.attempts_dataset(mailing, reports.ReportFilter())
    return {
        "dashboard": stats.dashboard(user)["totals"],
        "managers": stats.dashboard(manager)["active_users"],
        "summary": {key: value for key, value in report["summary"].items() if key != "compacted"},
        "runs": report["attempts"]["rows"],
        "chart": report["chart_runs"],
        "export": runs.csv,
    }


def test_old_rows_go_and_every_figure_stays(history, alice, manager, settings):
    settings.DELIVERY_RETENTION_DAYS = 180
    before = every_figure(history["mailing"], alice, manager)

    assert retention.compact_old_deliveries(size=4) == 11  # three batches, one of a run

    assert not Delivery.objects.filter(attempt=history["old"]).exists()
    assert Delivery.objects.filter(attempt=history["recent"]).count() == 5
    assert Delivery.objects.filter(attempt=history["paused"]).count() == 2  # not finished: kept
    assert retention.compacted_count(history["old"]) == 11
    assert every_figure(history["mailing"], alice, manager) == before
    assert before["summary"]["total"] == 18 and before["summary"]["sent"] == 11


def test_a_rebuild_after_compaction_keeps_the_figures(history, alice, manager, settings):
    settings.DELIVERY_RETENTION_DAYS = 180
    before = every_figure(history["mailing"], alice, manager)
    retention.compact_old_deliveries()
    counts_before = sorted(DeliveryStat.objects.values_list("attempt_id", "status").distinct())
    call_command("rebuild_statistics")
    assert every_figure(history["mailing"], alice, manager) == before
    assert sorted(DeliveryStat.objects.values_list("attempt_id", "status").distinct()) == counts_before


def test_nothing_is_compacted_when_rows_are_kept_forever(history, settings):
    settings.DELIVERY_RETENTION_DAYS = 0
    assert retention.compact_old_deliveries() == 0
    assert Delivery.objects.count() == 18
    assert not CompactedDeliveries.objects.exists()


def test_a_second_pass_finds_nothing_left(history, settings):
    settings.DELIVERY_RETENTION_DAYS = 180
    assert retention.compact_old_deliveries() == 11
    assert retention.compact_old_deliveries() == 0
    assert retention.compacted_count(history["old"]) == 11


def test_it_rests_between_batches_and_a_spent_budget_stops_it_until_the_next_call(history, settings):
    settings.DELIVERY_RETENTION_DAYS = 180
    # The deadline, the first check, a batch that takes 0.5 s, then time is up.
    ticks, rests = iter([0, 0, 0, 0.5, 100]), []
    compacted = retention.compact_old_deliveries(
        size=4, budget=1, clock=lambda: next(ticks), sleep=rests.append
    )
    assert compacted == 4
    assert rests == [0.5 * retention.REST_PER_WORK]  # it rests nine times its work
    assert retention.compact_old_deliveries(size=4) == 7


def test_the_hourly_schedule_exists():
    schedule = Schedule.objects.get(name=retention.RETENTION_SCHEDULE)
    assert schedule.func == "mailings.tasks.compact_old_deliveries"
    assert schedule.schedule_type == Schedule.HOURLY


def test_the_report_says_how_many_deliveries_were_compacted(client, history, alice, settings):
    settings.DELIVERY_RETENTION_DAYS = 180
    client.force_login(alice)
    url = reverse("admin:mailings_mailing_report", args=[history["mailing"].pk])
    assert "report-compacted" not in client.get(url).content.decode()
    retention.compact_old_deliveries()
    stats.invalidate_for_mailing(history["mailing"].pk)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Deliveries compacted by retention: 11." in page
    assert client.get(url).context["report"]["summary"]["total"] == 18


def test_a_runs_page_and_the_delivery_list_say_what_was_compacted(client, history, alice, settings):
    settings.DELIVERY_RETENTION_DAYS = 180
    retention.compact_old_deliveries()
    client.force_login(alice)
    run_page = client.get(reverse("admin:mailings_attempt_change", args=[history["old"].pk]))
    assert "Записей о доставке сжато по сроку хранения: 11." in run_page.content.decode()
    deliveries = client.get(reverse("admin:mailings_delivery_changelist") + "?q=example.org")
    assert "начатых более 180 дн. назад" in deliveries.content.decode()
    assert deliveries.context["cl"].result_count == 7  # the kept rows: recent run and paused run


def test_a_rebuild_sums_the_compacted_batches_into_a_few_counts(history, settings):
    settings.DELIVERY_RETENTION_DAYS = 180
    retention.compact_old_deliveries(size=2)  # six batches of the old run
    assert CompactedDeliveries.objects.filter(attempt=history["old"]).count() > 3
    call_command("rebuild_statistics")
    assert sorted(DeliveryStat.objects.filter(attempt=history["old"]).values_list("status", "count")) == [
        ("failed", 3), ("sent", 7), ("skipped", 1),
    ]
