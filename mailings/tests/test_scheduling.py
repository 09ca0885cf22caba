"""When mailings run: periodicity, DST, end dates, catch-up, status; the clock is passed in."""
import datetime
import json
import zoneinfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from mailings import dispatch, schedule, services, tasks
from mailings.delivery import loop
from mailings.models import Attempt, Client, Mailing, MailingStatus, Message
from mailings.runs import claim
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def at(zone, *args):
    return datetime.datetime(*args, tzinfo=zone)


def runs(mailing, count):
    """The first ``count`` run times, following next_run_after from the first send."""
    times = [mailing.start_at]
    while len(times) < count:
        following = schedule.next_run_after(mailing, times[-1])
        if following is None:
            break
        times.append(following)
    return times


def local(times, zone):
    return [t.astimezone(zone).strftime("%Y-%m-%d %H:%M") for t in times]


def test_monthly_keeps_the_day_and_clamps_to_the_months_last_day(alice):
    mailing = make_mailing(alice, 0, start_at=at(MOSCOW, 2027, 1, 31, 10, 0), periodicity="monthly")

    assert local(runs(mailing, 5), MOSCOW) == [
        "2027-01-31 10:00", "2027-02-28 10:00", "2027-03-31 10:00", "2027-04-30 10:00", "2027-05-31 10:00",
    ]


def test_monthly_on_a_leap_year_uses_february_29(alice):
    mailing = make_mailing(alice, 0, start_at=at(MOSCOW, 2027, 12, 30, 8, 0), periodicity="monthly")

    assert local(runs(mailing, 4), MOSCOW) == [
        "2027-12-30 08:00", "2028-01-30 08:00", "2028-02-29 08:00", "2028-03-30 08:00",
    ]


def test_monthly_across_the_year_end(alice):
    mailing = make_mailing(alice, 0, start_at=at(MOSCOW, 2026, 11, 15, 12, 0), periodicity="monthly")

    assert local(runs(mailing, 3), MOSCOW) == ["2026-11-15 12:00", "2026-12-15 12:00", "2027-01-15 12:00"]


def test_daily_keeps_the_local_time_across_the_spring_dst_change(alice, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    mailing = make_mailing(alice, 0, start_at=at(BERLIN, 2026, 3, 28, 9, 0), periodicity="daily")

    times = runs(mailing, 3)

    assert local(times, BERLIN) == ["2026-03-28 09:00", "2026-03-29 09:00", "2026-03-30 09:00"]
    utc_hours = [t.astimezone(datetime.timezone.utc).hour for t in times]
    assert utc_hours == [8, 7, 7]  # CET then CEST: the same wall clock, one hour earlier in UTC


def test_weekly_keeps_the_local_time_across_the_autumn_dst_change(alice, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    mailing = make_mailing(alice, 0, start_at=at(BERLIN, 2026, 10, 20, 18, 30), periodicity="weekly")

    times = runs(mailing, 3)

    assert local(times, BERLIN) == ["2026-10-20 18:30", "2026-10-27 18:30", "2026-11-03 18:30"]
    assert [t.astimezone(datetime.timezone.utc).hour for t in times] == [16, 17, 17]


def test_no_run_starts_after_the_end(alice):
    mailing = make_mailing(
        alice, 0, start_at=at(MOSCOW, 2027, 1, 1, 9, 0), periodicity="daily", end_at=at(MOSCOW, 2027, 1, 3, 9, 0)
    )

    assert local(runs(mailing, 10), MOSCOW) == ["2027-01-01 09:00", "2027-01-02 09:00", "2027-01-03 09:00"]


def test_a_once_mailing_has_one_run(alice):
    mailing = make_mailing(alice, 0, start_at=at(MOSCOW, 2027, 1, 1, 9, 0))

    assert schedule.next_run_after(mailing, mailing.start_at) is None
    assert schedule.next_run_after(mailing, mailing.start_at - datetime.timedelta(seconds=1)) == mailing.start_at


def test_next_run_after_a_long_time_is_found_without_walking_every_period(alice):
    mailing = make_mailing(alice, 0, start_at=at(MOSCOW, 2020, 1, 1, 9, 0), periodicity="daily")

    following = schedule.next_run_after(mailing, at(MOSCOW, 2026, 6, 15, 12, 0))

    assert local([following], MOSCOW) == ["2026-06-16 09:00"]


def test_a_periodic_mailing_runs_each_period_until_its_end_then_completes(alice, smtp_server):
    start = at(MOSCOW, 2027, 3, 1, 9, 0)
    mailing = make_mailing(alice, 2, start_at=start, periodicity="weekly", end_at=start + datetime.timedelta(days=15))
    services.mailing_saved(mailing=mailing, now=start - datetime.timedelta(days=1))
    mailing.refresh_from_db()
    assert mailing.status == MailingStatus.CREATED

    seen = []
    now = start - datetime.timedelta(days=1)
    while now < start + datetime.timedelta(days=30):
        now += datetime.timedelta(hours=6)
        attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=now)
        if attempt:
            seen.append(attempt.scheduled_for)
            loop.deliver(attempt, now=lambda: now)
            mailing.refresh_from_db()
            # The third run is the last before the end: it completes the mailing.
            assert mailing.status == (MailingStatus.COMPLETED if len(seen) == 3 else MailingStatus.RUNNING)

    assert local(seen, MOSCOW) == ["2027-03-01 09:00", "2027-03-08 09:00", "2027-03-15 09:00"]
    assert len(smtp_server.messages) == 6
    mailing.refresh_from_db()
    assert (mailing.status, mailing.next_run_at) == (MailingStatus.COMPLETED, None)


def test_runs_missed_while_no_worker_ran_are_caught_up_once(alice, smtp_server):
    start = at(MOSCOW, 2027, 5, 1, 9, 0)
    mailing = make_mailing(alice, 1, start_at=start, periodicity="daily")
    services.mailing_saved(mailing=mailing, now=start - datetime.timedelta(hours=1))
    back_up = start + datetime.timedelta(days=5, hours=3)  # five runs were missed

    attempts = []
    for minutes in range(0, 60, 10):
        attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=back_up + datetime.timedelta(minutes=minutes))
        if attempt:
            attempts.append(loop.deliver(attempt))

    assert len(attempts) == 1 and len(smtp_server.messages) == 1
    mailing.refresh_from_db()
    assert local([mailing.next_run_at], MOSCOW) == ["2027-05-07 09:00"]


def test_a_new_mailing_due_now_is_sent_when_saved(alice, smtp_server, sync_queue, django_capture_on_commit_callbacks):
    mailing = make_mailing(alice, 2)

    with django_capture_on_commit_callbacks(execute=True):
        services.mailing_saved(mailing=mailing)

    assert len(smtp_server.messages) == 2
    mailing.refresh_from_db()
    assert mailing.status == MailingStatus.COMPLETED


def test_a_future_mailing_is_not_sent_when_saved(alice, smtp_server, sync_queue, django_capture_on_commit_callbacks):
    mailing = make_mailing(alice, 2, start_at=timezone.now() + datetime.timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.mailing_saved(mailing=mailing)

    assert callbacks == [] and smtp_server.messages == []
    mailing.refresh_from_db()
    assert (mailing.status, mailing.next_run_at) == (MailingStatus.CREATED, mailing.start_at)


def test_the_dispatcher_waits_for_a_run_due_before_the_next_tick(alice, monkeypatch):
    now = [timezone.now()]
    soon = make_mailing(alice, 1, start_at=now[0] + datetime.timedelta(seconds=20))
    later = make_mailing(alice, 1, start_at=now[0] + datetime.timedelta(minutes=5), domain="later.example.org")
    for mailing in (soon, later):
        services.mailing_saved(mailing=mailing, now=now[0])
    queued = []
    monkeypatch.setattr(dispatch, "enqueue", lambda func, *args: queued.append((func, args, now[0])))

    def sleep(seconds):
        now[0] += datetime.timedelta(seconds=seconds)

    tasks.dispatch_due(sleep=sleep, clock=lambda: now[0])

    assert [(func, args) for func, args, _ in queued] == [("mailings.tasks.run_mailing", (soon.pk,))]
    assert queued[0][2] >= soon.start_at
    assert queued[0][2] - soon.start_at < datetime.timedelta(seconds=1)


def test_due_leaves_out_disabled_blocked_paused_and_completed_mailings(alice, bob):
    now = timezone.now()
    ready = make_mailing(alice, 0, start_at=now - datetime.timedelta(minutes=1))
    disabled = make_mailing(alice, 0, start_at=now - datetime.timedelta(minutes=1), is_enabled=False)
    paused = make_mailing(alice, 0, start_at=now - datetime.timedelta(minutes=1),
                          paused_until=now + datetime.timedelta(minutes=5))
    blocked = make_mailing(bob, 0, start_at=now - datetime.timedelta(minutes=1), domain="b.example.org")
    for mailing in (ready, disabled, paused, blocked):
        Mailing.objects.filter(pk=mailing.pk).update(next_run_at=mailing.start_at)
    bob.is_active = False
    bob.save()

    assert list(Mailing.objects.due(now)) == [ready]
    assert set(Mailing.objects.due(now + datetime.timedelta(minutes=6))) == {ready, paused}


def test_django_q_schedules_drive_the_dispatcher(alice, smtp_server, sync_queue):
    """The Schedule rows the migration creates make django-q2's own scheduler start due runs."""
    from django_q.models import Schedule
    from django_q.scheduler import scheduler

    dispatch.ensure_schedules(now=timezone.now() - datetime.timedelta(minutes=2))
    dispatch.ensure_schedules(now=timezone.now() - datetime.timedelta(minutes=2))  # idempotent
    assert Schedule.objects.filter(func=dispatch.DISPATCH_TASK).count() == 2
    mailing = make_mailing(alice, 2)
    Mailing.objects.filter(pk=mailing.pk).update(next_run_at=mailing.start_at)

    scheduler()

    assert len(smtp_server.messages) == 2
    assert Attempt.objects.filter(mailing=mailing).count() == 1
    assert all(s.next_run > timezone.now() for s in Schedule.objects.filter(func=dispatch.DISPATCH_TASK))


def test_changing_a_completed_mailing_to_run_again_reopens_it(alice, smtp_server):
    start = timezone.now() - datetime.timedelta(minutes=1)
    mailing = make_mailing(alice, 1, start_at=start)
    services.mailing_saved(mailing=mailing, now=start)
    loop.deliver(claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now()))
    mailing.refresh_from_db()
    assert mailing.status == MailingStatus.COMPLETED

    mailing.periodicity = "daily"
    mailing.save()
    services.mailing_saved(mailing=mailing)

    mailing.refresh_from_db()
    assert mailing.status == MailingStatus.RUNNING
    assert mailing.next_run_at == start + datetime.timedelta(days=1)


def test_mailings_that_never_went_through_the_admin_are_scheduled_when_saved(alice, smtp_server):
    """Demo fixtures, a shell or an import create mailings outside the admin: saving schedules
    them (mailings.services.on_mailing_saved), and the dispatcher finds the due one."""
    due = make_mailing(alice, 1)
    future = make_mailing(alice, 1, start_at=timezone.now() + datetime.timedelta(days=1), domain="f.example.org")
    assert (due.next_run_at, future.next_run_at) == (due.start_at, future.start_at)
    queued = []

    dispatch.dispatch(now=timezone.now(), enqueue_run=queued.append, enqueue_resume=queued.append)

    assert queued == [due.pk]
    future.refresh_from_db()
    assert future.next_run_at == future.start_at


def test_a_mailing_created_in_a_shell_starts_once_its_clients_are_added(
    alice, smtp_server, sync_queue, django_capture_on_commit_callbacks
):
    message = Message.objects.create(owner=alice, subject="Hi", body="<p>Hi</p>")
    reader = Client.objects.create(owner=alice, email="reader@example.org")
    later_at = timezone.now() + datetime.timedelta(days=1)

    with django_capture_on_commit_callbacks(execute=True):
        due = Mailing.objects.create(owner=alice, message=message, start_at=timezone.now())
        later = Mailing.objects.create(owner=alice, message=message, start_at=later_at)
    assert smtp_server.messages == []  # a run to nobody would be wasted: it waits for its clients
    assert due.next_run_at == due.start_at

    with django_capture_on_commit_callbacks(execute=True):
        due.clients.add(reader)
        later.clients.add(reader)

    assert smtp_server.recipients() == ["reader@example.org"]
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, due.next_run_at) == (MailingStatus.COMPLETED, None)
    assert (later.status, later.next_run_at) == (MailingStatus.CREATED, later_at)


def test_a_mailing_loaded_by_loaddata_is_scheduled_and_a_due_one_starts(
    alice, smtp_server, sync_queue, django_capture_on_commit_callbacks, tmp_path
):
    message = Message.objects.create(owner=alice, subject="Hi", body="<p>Hi</p>")
    reader = Client.objects.create(owner=alice, email="reader@example.org")
    start = {"due": timezone.now() - datetime.timedelta(minutes=5), "later": timezone.now() + datetime.timedelta(days=1)}
    rows = [
        {"model": "mailings.mailing", "pk": pk, "fields": {
            "created_at": start["due"].isoformat(), "updated_at": start["due"].isoformat(),
            "owner": alice.pk, "message": message.pk, "start_at": start[name].isoformat(),
            "periodicity": "once", "status": "created", "is_enabled": True, "next_run_at": None,
            "clients": [reader.pk],
        }}
        for pk, name in ((9001, "due"), (9002, "later"))
    ]
    fixture = tmp_path / "mailings.json"
    fixture.write_text(json.dumps(rows))

    with django_capture_on_commit_callbacks(execute=True):
        call_command("loaddata", str(fixture), verbosity=0)

    assert smtp_server.recipients() == ["reader@example.org"]
    assert Mailing.objects.get(pk=9001).status == MailingStatus.COMPLETED
    later = Mailing.objects.get(pk=9002)
    assert (later.status, later.next_run_at) == (MailingStatus.CREATED, start["later"])
