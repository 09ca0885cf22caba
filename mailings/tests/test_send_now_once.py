"""Issue #9: pressing "send now" or "retry failed" twice never sends a run twice.

The confirmation page names the run it starts and carries its identity; the POST acts on
exactly that run. Messages are counted at a real SMTP server; the clock is controlled (the
presses straddle a minute boundary, which is where a run keyed by the minute doubled).
"""
import datetime
import re
from collections import Counter

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from lib.dates import local_datetime

from mailings import services, tasks
from mailings.models import Attempt, AttemptKind
from mailings.runs import claim
from mailings.tests.factories import make_mailing

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english", "sync_queue")]


class Clock:
    """``timezone.now`` under the test's control: a second before a minute boundary."""

    def __init__(self):
        self.now = timezone.now().replace(second=59, microsecond=0)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += datetime.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    return clock


def logged_in(client, user):
    client.force_login(user, backend="backoffice.backends.EmailBackend")
    return client


def action_url(mailing, name):
    return f"/admin/mailings/mailing/{mailing.pk}/{name}/"


class Page:
    """A confirmation page as a person's browser holds it: pressing it POSTs its form."""

    def __init__(self, browser, url):
        self.browser, self.url = browser, url
        self.response = browser.get(url)
        assert self.response.status_code == 200
        self.text = self.response.content.decode()
        self.token = re.search(r'name="run" value="([^"]+)"', self.text).group(1)

    def press(self, capture, *, worker_runs_now=True):
        """One press: what it said, and its queued task (run at once with ``worker_runs_now``)."""
        with capture(execute=worker_runs_now) as queued:
            response = self.browser.post(self.url, {"run": self.token})
        assert response.status_code == 302
        # Messages not yet shown pile up; this press's own is the last one.
        return str(list(get_messages(response.wsgi_request))[-1]), queued


def run_queued(callbacks):
    for callback in callbacks:
        callback()


def received(smtp_server):
    return Counter(smtp_server.recipients())


def everyone_once(mailing):
    return Counter({client.email: 1 for client in mailing.clients.all()})


@pytest.fixture
def future_once(alice, clock):
    mailing = make_mailing(alice, 3, start_at=clock() + datetime.timedelta(days=2))
    services.mailing_saved(mailing=mailing, now=clock())
    return mailing


@pytest.fixture
def future_daily(alice, clock):
    mailing = make_mailing(alice, 3, start_at=clock() + datetime.timedelta(hours=5), periodicity="daily")
    services.mailing_saved(mailing=mailing, now=clock())
    return mailing


def test_the_page_names_the_run_it_starts(client, alice, future_once):
    page = Page(logged_in(client, alice), action_url(future_once, "send-now"))

    assert f"Start the run due {local_datetime(future_once.next_run_at)} now?" in page.text
    assert page.token == f"scheduled:{future_once.next_run_at.isoformat()}"


def test_two_presses_two_seconds_apart_send_once(client, alice, future_once, clock, smtp_server,
                                                 django_capture_on_commit_callbacks):
    page = Page(logged_in(client, alice), action_url(future_once, "send-now"))

    first, _ = page.press(django_capture_on_commit_callbacks)
    clock.advance(2)
    second, _ = page.press(django_capture_on_commit_callbacks)

    assert received(smtp_server) == everyone_once(future_once)
    assert Attempt.objects.filter(mailing=future_once).count() == 1
    assert first.startswith("Started: the run due")
    assert second.startswith("Nothing new was started: the run due")
    assert second.endswith("has already been done.")


@pytest.mark.parametrize("worker_runs_now", [True, False], ids=["worker-fast", "worker-slow"])
def test_ten_presses_of_a_periodic_mailing_send_its_run_once_and_keep_the_next_period(
    client, alice, future_daily, clock, smtp_server, django_capture_on_commit_callbacks, worker_runs_now
):
    due = future_daily.next_run_at
    page = Page(logged_in(client, alice), action_url(future_daily, "send-now"))

    queued = []
    for _press in range(10):
        _, callbacks = page.press(django_capture_on_commit_callbacks, worker_runs_now=worker_runs_now)
        queued += callbacks
        clock.advance(0.2)
    if not worker_runs_now:
        run_queued(queued)

    assert received(smtp_server) == everyone_once(future_daily)
    future_daily.refresh_from_db()
    assert future_daily.next_run_at == due + datetime.timedelta(days=1)  # not pulled forward
    assert list(Attempt.objects.filter(mailing=future_daily).values_list("kind", "scheduled_for")) == [
        (AttemptKind.SCHEDULED, due)
    ]


@pytest.mark.parametrize("worker_runs_now", [True, False], ids=["worker-fast", "worker-slow"])
def test_ten_presses_of_an_extra_run_send_it_once(client, alice, clock, smtp_server,
                                                  django_capture_on_commit_callbacks, worker_runs_now):
    mailing = make_mailing(alice, 3, start_at=clock() - datetime.timedelta(minutes=5))
    services.mailing_saved(mailing=mailing, now=clock())
    tasks.run_mailing(mailing.pk)  # its only run: "send now" now offers an extra run
    smtp_server.reset()
    page = Page(logged_in(client, alice), action_url(mailing, "send-now"))
    assert "Start an extra run to all 3 clients of the mailing now?" in page.text

    queued = []
    for _press in range(10):
        _, callbacks = page.press(django_capture_on_commit_callbacks, worker_runs_now=worker_runs_now)
        queued += callbacks
        clock.advance(0.2)
    if not worker_runs_now:
        run_queued(queued)

    assert received(smtp_server) == everyone_once(mailing)
    assert Attempt.objects.filter(mailing=mailing, kind=AttemptKind.MANUAL).count() == 1


def test_a_second_person_pressing_a_page_rendered_before_starts_nothing(
    client, alice, superuser, future_once, clock, smtp_server, django_capture_on_commit_callbacks
):
    from django.test import Client

    alices_page = Page(logged_in(client, alice), action_url(future_once, "send-now"))
    roots_page = Page(logged_in(Client(), superuser), action_url(future_once, "send-now"))

    alices_page.press(django_capture_on_commit_callbacks)
    clock.advance(2)
    said, _ = roots_page.press(django_capture_on_commit_callbacks)

    assert received(smtp_server) == everyone_once(future_once)
    assert said.startswith("Nothing new was started: the run due")


def test_a_press_after_the_scheduler_claimed_the_run_never_pulls_the_next_period_forward(
    client, alice, future_daily, clock, smtp_server, django_capture_on_commit_callbacks
):
    due = future_daily.next_run_at
    page = Page(logged_in(client, alice), action_url(future_daily, "send-now"))
    clock.now = due
    assert tasks.run_mailing(future_daily.pk) is not None  # the scheduler's run, on time

    said, _ = page.press(django_capture_on_commit_callbacks)

    assert received(smtp_server) == everyone_once(future_daily)
    future_daily.refresh_from_db()
    assert future_daily.next_run_at == due + datetime.timedelta(days=1)
    assert said == f"Nothing new was started: the run due {local_datetime(due)} has already been done."


def test_a_press_while_the_run_is_going_says_so(client, alice, future_once, clock, smtp_server,
                                               django_capture_on_commit_callbacks):
    page = Page(logged_in(client, alice), action_url(future_once, "send-now"))
    claimed = claim.claim_scheduled_run(
        mailing_id=future_once.pk, now=clock(), expected=future_once.next_run_at
    )  # a worker took the run and has not finished it

    said, _ = page.press(django_capture_on_commit_callbacks)

    assert said.startswith("Nothing new was started: the run due") and said.endswith("is already going.")
    assert list(Attempt.objects.values_list("pk", flat=True)) == [claimed.pk]
    assert smtp_server.messages == []


def test_a_page_whose_run_changed_starts_nothing(client, alice, future_daily, clock, smtp_server,
                                                 django_capture_on_commit_callbacks):
    page = Page(logged_in(client, alice), action_url(future_daily, "send-now"))
    future_daily.start_at += datetime.timedelta(hours=1)  # edited after the page was shown
    future_daily.save()
    services.mailing_saved(mailing=future_daily, now=clock())

    said, _ = page.press(django_capture_on_commit_callbacks)

    assert smtp_server.messages == [] and not Attempt.objects.exists()
    assert said.startswith("Nothing was started: the page you confirmed offered the run due")


@pytest.mark.parametrize("token", ["", "scheduled:yesterday", "manual:abc", "retry:999999", "test:1"])
def test_a_press_that_names_no_run_starts_nothing(client, alice, future_once, smtp_server, token,
                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in(client, alice).post(action_url(future_once, "send-now"), {"run": token})

    assert response.status_code == 302
    assert response["Location"] == action_url(future_once, "send-now")
    assert smtp_server.messages == [] and not Attempt.objects.exists()


def test_a_second_press_of_the_same_retry_retries_nobody_again(client, alice, clock, smtp_server,
                                                               django_capture_on_commit_callbacks):
    mailing = make_mailing(alice, 3, start_at=clock() - datetime.timedelta(minutes=5))
    services.mailing_saved(mailing=mailing, now=clock())
    smtp_server.behaviour.reject_rcpt = {
        "c00001@example.org": "550 No such user", "c00002@example.org": "550 No such user",
    }
    tasks.run_mailing(mailing.pk)
    smtp_server.reset()
    page = Page(logged_in(client, alice), action_url(mailing, "retry-failed"))
    assert "Start a retry of the 2 recipients the run of" in page.text

    smtp_server.behaviour.reject_rcpt = {"c00002@example.org": "550 No such user"}
    first, _ = page.press(django_capture_on_commit_callbacks)
    smtp_server.behaviour.reject_rcpt = {}
    clock.advance(2)
    second, _ = page.press(django_capture_on_commit_callbacks)

    assert received(smtp_server) == Counter({"c00001@example.org": 1})
    assert Attempt.objects.filter(mailing=mailing, kind=AttemptKind.RETRY).count() == 1
    assert first.startswith("Started: a retry of the 2 recipients")
    assert second.startswith("Nothing new was started: a retry of the 2 recipients")


def test_presses_before_the_worker_claims_the_run_say_it_is_already_going(
    client, alice, future_once, clock, smtp_server, django_capture_on_commit_callbacks
):
    page = Page(logged_in(client, alice), action_url(future_once, "send-now"))

    first, queued = page.press(django_capture_on_commit_callbacks, worker_runs_now=False)
    second, queued_again = page.press(django_capture_on_commit_callbacks, worker_runs_now=False)

    assert first.startswith("Started: the run due")
    assert second.startswith("Nothing new was started: the run due") and second.endswith("is already going.")
    assert len(queued) == 1 and queued_again == []  # the second press queued nothing
    run_queued(queued)
    assert received(smtp_server) == everyone_once(future_once)
