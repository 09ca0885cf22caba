"""The outcome counts every figure reads (DeliveryStat) equal a recount of the Delivery rows,
whatever happened to the rows: runs that finish, rows that change while a run goes on, rows
added after a roll-up, a finished run repaired, a rebuild."""
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from mailings.models import AttemptKind, AttemptStatus, Delivery, DeliveryStat, RolledUpRun
from mailings.models import DeliveryStatus as S
from mailings.statistics import queries as stats
from mailings.statistics import rollup
from mailings.tests.factories import add_deliveries, make_attempt, make_mailing

pytestmark = pytest.mark.django_db


def recount():
    """The reference: every counted row, keyed like DeliveryStat, counted in Python."""
    rows = Delivery.objects.select_related("attempt").exclude(attempt__kind=AttemptKind.TEST)
    return +Counter(
        (row.attempt_id, timezone.localtime(row.sent_at or row.attempt.started_at).date(), row.status,
         row.smtp_code)
        for row in rows
    )


def summed():
    counts = Counter()
    for stat in DeliveryStat.objects.all():
        counts[(stat.attempt_id, stat.day, stat.status, stat.smtp_code)] += stat.count
    return counts


def caught_up():
    rollup.catch_up()
    return +summed()


def test_counts_equal_a_recount_of_the_fixture(outcomes):
    assert caught_up() == recount()
    assert sum(recount().values()) == 24  # every non-test row, pending and skipped included


def test_a_running_run_is_recounted_as_its_rows_change(outcomes):
    run = make_attempt(outcomes["newsletter"], timezone.now(), status=AttemptStatus.RUNNING)
    rows = add_deliveries(run, S.PENDING, 6)
    assert caught_up() == recount()
    Delivery.objects.filter(pk__in=[r.pk for r in rows[:4]]).update(status=S.SENT, sent_at=timezone.now())
    Delivery.objects.filter(pk=rows[4].pk).update(status=S.DEFERRED, smtp_code=451)
    assert caught_up() == recount()
    assert not RolledUpRun.objects.filter(attempt=run).exists()


def test_a_run_that_finishes_is_rolled_up_once_with_its_final_rows(outcomes):
    run = make_attempt(outcomes["newsletter"], timezone.now(), status=AttemptStatus.PAUSED)
    add_deliveries(run, S.DEFERRED, 3, sent_at=timezone.now(), smtp_code=421)
    assert caught_up() == recount()
    # What finishing does: deferred rows become failed, then the run's status is final.
    Delivery.objects.filter(attempt=run, status=S.DEFERRED).update(status=S.FAILED)
    type(run).objects.filter(pk=run.pk).update(status=AttemptStatus.FAILURE)
    assert caught_up() == recount()
    assert RolledUpRun.objects.filter(attempt=run).exists()
    assert DeliveryStat.objects.filter(attempt=run, status=S.DEFERRED).count() == 0


def test_rows_added_to_a_finished_run_after_its_roll_up_are_counted_once(outcomes):
    assert caught_up() == recount()
    add_deliveries(outcomes["bob_run"], S.SENT, 2, sent_at=timezone.now())
    assert caught_up() == recount()
    assert caught_up() == recount()  # a second catch-up adds nothing


def test_a_finished_run_whose_rows_changed_is_counted_again_once_forgotten(outcomes):
    assert caught_up() == recount()
    run = outcomes["recent"]
    Delivery.objects.filter(attempt=run, status=S.SENT).update(status=S.FAILED, smtp_code=550)  # bounces
    rollup.forget_runs([run.pk])
    assert caught_up() == recount()


def test_test_sends_are_never_rolled_up(outcomes):
    rollup.catch_up()
    assert not DeliveryStat.objects.filter(attempt=outcomes["test_send"]).exists()
    assert not RolledUpRun.objects.filter(attempt=outcomes["test_send"]).exists()


def test_rebuild_statistics_recounts_everything(outcomes, capsys):
    rollup.catch_up()
    DeliveryStat.objects.filter(attempt=outcomes["recent"]).update(count=999)  # a broken count
    call_command("rebuild_statistics")
    assert +summed() == recount()
    assert "4" in capsys.readouterr().out  # four finished counted runs


def test_the_figures_of_many_runs_equal_the_rows(alice, bob, manager):
    now = timezone.now()
    for owner in (alice, bob):
        mailing = make_mailing(owner, 0)
        for offset in range(5):
            status = AttemptStatus.RUNNING if offset == 0 else AttemptStatus.SUCCESS
            run = make_attempt(mailing, now - timedelta(days=offset * 3), status=status)
            add_deliveries(run, S.SENT, offset + 2, sent_at=run.started_at)
            add_deliveries(run, S.FAILED, offset, sent_at=run.started_at, smtp_code=550)
            add_deliveries(run, S.UNKNOWN, 1)
    totals = stats.dashboard(manager)["totals"]
    rows = Delivery.objects.all()
    assert totals["sent"] == rows.filter(status=S.SENT).count() == 2 * (2 + 3 + 4 + 5 + 6)
    assert totals["failed"] == rows.filter(status=S.FAILED).count() == 2 * 10
    assert totals["unknown"] == rows.filter(status=S.UNKNOWN).count() == 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_catch_ups_and_compaction_never_count_a_row_twice(alice, settings):
    """Four threads, each with its own connection, catch up and compact at once while rows
    keep arriving: the lock on the watermark row makes the counts end equal to the rows."""
    import threading

    from django.db import connection, connections

    from mailings import retention

    if connection.vendor != "postgresql":
        pytest.skip("row locks between connections need PostgreSQL (SQLite serialises every writer)")
    settings.DELIVERY_RETENTION_DAYS = 100
    mailing = make_mailing(alice, 0)
    old = make_attempt(mailing, timezone.now() - timedelta(days=200))
    add_deliveries(old, S.SENT, 30, sent_at=old.started_at)
    rollup.catch_up()
    compacted_before = recount()
    errors = []

    def work(job):
        try:
            for _ in range(5):
                job()
        except Exception as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)
        finally:
            connections.close_all()

    runs = [make_attempt(mailing, timezone.now() - timedelta(minutes=n)) for n in range(3)]

    def add_rows():
        for run in runs:
            add_deliveries(run, S.SENT, 2, sent_at=timezone.now())

    threads = [threading.Thread(target=work, args=(job,)) for job in
               (rollup.catch_up, rollup.catch_up, lambda: retention.compact_old_deliveries(size=7), add_rows)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = recount() + Counter({key: n for key, n in compacted_before.items() if key[0] == old.pk})
    assert caught_up() == expected
    assert not Delivery.objects.filter(attempt=old).exists()
