"""One run, many workers (issue #14): disjoint batches, one finish, one shared rate limit.

Workers are real: threads or processes delivering one run against the loopback SMTP
server, each message counted at the server. The shared limits are checked with a
controlled clock (slots reserved, never wall-clock durations).
"""
import os
import signal
import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connection

from mailings import services, tasks
from mailings.delivery import loop, throttle
from mailings.delivery.progress import claim_batch
from mailings.models import Attempt, AttemptStatus, Delivery, DeliveryStatus, Mailing
from mailings.runs import claim, state
from mailings.tests.factories import make_mailing
from mailings.tests.test_exactly_once import (
    WorkerDatabase, assert_once_or_unknown, assert_run_survived_kills, emails, start_worker,
)

pytestmark = [pytest.mark.usefixtures("english")]


@pytest.fixture
def owner(django_user_model):
    from django.utils import timezone

    return django_user_model.objects.create_user(
        email="olga@example.com", password="x-long-password-1", full_name="Olga",
        is_staff=True, is_superuser=True, email_verified_at=timezone.now(),
    )


def start_run(owner, count):
    from django.utils import timezone

    mailing = make_mailing(owner, count)
    services.mailing_saved(mailing=mailing)
    return mailing, claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now())


@pytest.fixture
def finishes(monkeypatch):
    """How many times a run was finished (``state.finish`` as the loop calls it)."""
    calls = Counter()

    def counting_finish(attempt, **kwargs):
        calls[attempt.pk] += 1
        return state.finish(attempt, **kwargs)

    monkeypatch.setattr(loop, "finish", counting_finish)
    return calls


def statuses(attempt):
    return dict(Delivery.objects.filter(attempt=attempt).values_list("email", "status"))


# --- Shared slots, on both stores ------------------------------------------------------------


def redis_slots():
    if not os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is not set: run with it to test the Redis store")
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    return throttle.RedisSlots(client, f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture(params=["database", "redis"])
def slots(request):
    if request.param == "redis":
        return redis_slots()
    request.getfixturevalue("db")
    return throttle.DatabaseSlots()


class Workers:
    """Limiters of several workers on one controlled clock; records the slot each send got."""

    def __init__(self, slots, count, **limits):
        self.now = 1000.0
        self.slots_taken = []
        self.limiters = [
            throttle.SharedRateLimiter(slots=slots, clock=lambda: self.now, sleep=self.sleep, **limits)
            for _ in range(count)
        ]
        self.waited = 0.0

    def sleep(self, seconds):
        self.waited = seconds

    def send(self, worker, email):
        self.waited = 0.0
        self.limiters[worker].wait(email)
        self.slots_taken.append(self.now + self.waited)

    def per_second(self):
        return Counter(int(slot - 1000.0 + 1e-9) for slot in self.slots_taken)


def test_two_workers_share_one_run_limit(slots):
    workers = Workers(slots, 2, attempt_id=1, rate=4)
    for i in range(12):  # both ask at the same instant, turn by turn
        workers.send(i % 2, "c00000@example.org")

    # 4 a second for the run, not 4 per worker.
    assert workers.per_second() == Counter({0: 4, 1: 4, 2: 4})
    assert sorted(workers.slots_taken) == [1000.0 + i * 0.25 for i in range(12)]


def test_another_run_has_its_own_limit(slots):
    first = Workers(slots, 1, attempt_id=1, rate=1)
    second = Workers(slots, 1, attempt_id=2, rate=1)
    for workers in (first, second):
        workers.send(0, "a@example.org")
        workers.send(0, "b@example.org")

    assert first.slots_taken == second.slots_taken == [1000.0, 1001.0]


def test_a_domain_cap_holds_across_workers_and_spares_other_domains(slots):
    workers = Workers(slots, 2, attempt_id=1, rate=0, domain_rates={"gmail.com": 2})
    for i in range(4):
        workers.send(i % 2, f"user{i}@Gmail.com")
    gmail = list(workers.slots_taken)
    workers.send(0, "someone@mail.ru")

    assert gmail == [1000.0, 1000.5, 1001.0, 1001.5]
    assert workers.slots_taken[-1] == 1000.0  # no cap on mail.ru: no wait


def test_a_slot_in_the_past_is_not_banked(slots):
    """An idle limit does not let a burst through later: the next slot starts from now."""
    workers = Workers(slots, 1, attempt_id=1, rate=2)
    workers.send(0, "a@example.org")
    workers.now += 60
    workers.send(0, "b@example.org")
    workers.send(0, "c@example.org")

    assert workers.slots_taken == [1000.0, 1060.0, 1060.5]


@pytest.mark.django_db
def test_the_store_is_redis_when_the_cache_is(settings):
    assert isinstance(throttle.shared_slots(), throttle.DatabaseSlots) is (
        not settings.CACHES["default"]["BACKEND"].startswith("django_redis.")
    )


# --- Ending a run shared by workers ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_finds_rows_held_by_another_leaves_the_end_to_it(owner, smtp_server, settings, finishes):
    settings.MAILING_BATCH_SIZE = 10
    mailing, attempt = start_run(owner, 30)
    first = loop.RunDelivery(Attempt.objects.select_related("mailing__message", "mailing__owner").get(pk=attempt.pk),
                             now=loop.timezone.now, sleep=time.sleep, progress=None)
    held = claim_batch(attempt.pk, 10, claim=first.claim)  # the first worker holds a batch

    joined = loop.join(attempt.pk)  # a second worker does the rest, and must not end the run

    assert joined.status == AttemptStatus.RUNNING and finishes[attempt.pk] == 0
    assert len(smtp_server.messages) == 20
    first.after_id = held[-1].delivery_id
    first.run_batch(held)
    ended = first.run()  # nothing pending is left: the first worker ends it

    assert ended.status == AttemptStatus.SUCCESS and finishes[attempt.pk] == 1
    assert_once_or_unknown(smtp_server.recipients(), statuses(attempt), emails(30))
    assert sorted(smtp_server.recipients()) == sorted(emails(30))
    assert loop.join(attempt.pk).status == AttemptStatus.SUCCESS and finishes[attempt.pk] == 1


@pytest.mark.django_db(transaction=True)
def test_a_joiner_leaves_a_run_that_is_not_running(owner, smtp_server):
    mailing, attempt = start_run(owner, 3)
    Attempt.objects.filter(pk=attempt.pk).update(status=AttemptStatus.PAUSED)

    assert loop.join(attempt.pk).status == AttemptStatus.PAUSED
    assert smtp_server.messages == []
    assert loop.join(10**9) is None


@pytest.mark.django_db(transaction=True)
def test_starting_a_run_queues_its_joiners(owner, smtp_server, settings, monkeypatch):
    settings.MAILING_WORKERS_PER_RUN = 3
    mailing = make_mailing(owner, 2)
    services.mailing_saved(mailing=mailing)
    queued = []
    monkeypatch.setattr(tasks.dispatch, "enqueue", lambda func, *args: queued.append((func, *args)))

    attempt = tasks.run_mailing(mailing.pk)

    assert queued == [("mailings.tasks.join_run", attempt.pk)] * 2
    assert tasks.join_run(attempt.pk).status == AttemptStatus.SUCCESS  # a late joiner finds it done
    assert len(smtp_server.messages) == 2


# --- Real concurrency: two worker threads -----------------------------------------------------------

needs_concurrent_writers = pytest.mark.skipif(
    "connection.vendor == 'sqlite'",
    reason="the in-memory SQLite test database locks whole tables between threads; "
           "the process test below covers SQLite",
)


def run_threads(*targets):
    results, errors = [None] * len(targets), []

    def work(i, target):
        try:
            results[i] = target()
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    return results


@needs_concurrent_writers
@pytest.mark.django_db(transaction=True)
def test_two_threads_send_every_recipient_once_and_finish_once(owner, smtp_server, settings, finishes, monkeypatch):
    settings.MAILING_BATCH_SIZE = 5
    settings.MAILING_RATE_LIMIT = 100
    store, taken = throttle.shared_slots(), []

    class RecordingSlots:
        def reserve(self, key, now, interval):
            taken.append(store.reserve(key, now, interval))
            return taken[-1]

    monkeypatch.setattr(throttle, "shared_slots", RecordingSlots)
    mailing, attempt = start_run(owner, 60)

    run_threads(lambda: loop.deliver(attempt), lambda: loop.join(attempt.pk))

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCESS and attempt.sent == 60
    assert finishes[attempt.pk] == 1
    assert sorted(smtp_server.recipients()) == sorted(emails(60))
    claims = set(Delivery.objects.filter(attempt=attempt).values_list("claim", flat=True))
    assert len(claims) == 2, "both workers claimed batches"
    # One chain of slots 1/100 s apart for the whole run, whichever worker took them.
    gaps = [later - earlier for earlier, later in zip(sorted(taken), sorted(taken)[1:])]
    assert len(taken) == 60 and min(gaps) >= 0.01 - 1e-6


@needs_concurrent_writers
@pytest.mark.django_db(transaction=True)
def test_disabling_the_mailing_stops_both_workers_at_their_next_batch(owner, smtp_server, settings):
    settings.MAILING_BATCH_SIZE = 3
    mailing, attempt = start_run(owner, 200)
    smtp_server.behaviour.delay = 0.01
    stopped = threading.Event()

    def disable_after_some():
        smtp_server.wait_for(20)
        Mailing.objects.filter(pk=mailing.pk).update(is_enabled=False)
        stopped.set()
        connection.close()

    disabler = threading.Thread(target=disable_after_some)
    disabler.start()
    first, second = run_threads(lambda: loop.deliver(attempt), lambda: loop.join(attempt.pk))
    disabler.join(30)

    attempt.refresh_from_db()
    assert stopped.is_set()
    assert attempt.status == AttemptStatus.PAUSED
    counts = Counter(statuses(attempt).values())
    # Each worker finishes the batch in hand (at most 3 each) after the switch.
    assert counts[DeliveryStatus.SENT] == len(smtp_server.messages) < 200
    assert counts[DeliveryStatus.CLAIMED] == counts[DeliveryStatus.SENDING] == 0
    assert "the mailing was disabled" in Mailing.objects.get(pk=mailing.pk).pause_reason


# --- SIGKILLs among two worker processes -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sigkills_among_two_worker_processes_lose_at_most_the_messages_in_flight(owner, smtp_server, tmp_path):
    recipients, kills = 200, 4
    mailing = make_mailing(owner, recipients)
    services.mailing_saved(mailing=mailing)
    smtp_server.behaviour.delay = 0.01
    database = WorkerDatabase(tmp_path)
    stale_after = 1.5
    env = {
        **os.environ, "DATABASE_URL": database.url,
        "EMAIL_HOST": smtp_server.host, "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "MAILING_RATE_LIMIT": "50", "MAILING_BATCH_SIZE": "10",
        "MAILING_STALE_AFTER": str(stale_after), "LOG_LEVEL": "WARNING", "DEBUG": "0",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = open(tmp_path / "workers.log", "a")
    workers = [start_worker(env, log, "--mailing", str(mailing.pk))]
    killed = 0
    try:
        attempt_id = wait_for_attempt(database, mailing.pk, workers[0])
        workers.append(start_worker(env, log, "--join", str(attempt_id)))
        while killed < kills:
            target = len(smtp_server.messages) + 15
            deadline = time.monotonic() + 60
            while len(smtp_server.messages) < target and time.monotonic() < deadline and any(
                    worker.poll() is None for worker in workers):
                time.sleep(0.005)
            victim = killed % 2
            if workers[victim].poll() is not None:
                break  # the run ended or was left to resume: check what it left
            os.killpg(workers[victim].pid, signal.SIGKILL)
            killed += 1
            workers[victim].wait(10)
            workers[victim] = start_worker(env, log, "--join", str(attempt_id))  # a free worker joins again
        for worker in workers:
            assert worker.wait(120) == 0
        # Rows a killed worker held keep the run open until its heartbeat is stale; then
        # the dispatcher (here: the command without arguments) resumes and ends it.
        for _round in range(5):
            if database.attempt(attempt_id)[0] != AttemptStatus.RUNNING:
                break
            time.sleep(stale_after + 0.5)
            workers = [start_worker(env, log)]
            assert workers[0].wait(120) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
        log.close()
    assert killed >= 2, "the workers ended before two kills; too little was tested"
    assert_run_survived_kills(database, attempt_id, smtp_server, recipients, killed, tmp_path / "workers.log")


def wait_for_attempt(database, mailing_id, worker, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        try:
            return database.attempt_of(mailing_id)
        except (Attempt.DoesNotExist, TypeError):
            time.sleep(0.02)
    raise AssertionError("the first worker never claimed the run")


# --- A capped domain that asks to slow down --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_capped_domain_answering_451_is_held_for_every_row_without_burning_tries(owner, smtp_server, settings):
    from mailings.models import Client

    settings.MAILING_DOMAIN_RATE_LIMITS = {"gmail.com": 1000}
    mailing = make_mailing(owner, 4, domain="gmail.com")
    mailing.clients.add(Client.objects.create(owner=owner, email="z@example.org", full_name="Z"))
    smtp_server.behaviour.reject_rcpt = {"c00001@gmail.com": "451 4.7.1 Slow down"}
    services.mailing_saved(mailing=mailing)

    attempt = tasks.run_mailing(mailing.pk)

    rows = {email: (status, tries) for email, status, tries in
            Delivery.objects.filter(attempt=attempt).values_list("email", "status", "tries")}
    assert rows == {
        "c00000@gmail.com": (DeliveryStatus.SENT, 1),
        "c00001@gmail.com": (DeliveryStatus.PENDING, 0),
        "c00002@gmail.com": (DeliveryStatus.PENDING, 0),  # held: never offered to the server
        "c00003@gmail.com": (DeliveryStatus.PENDING, 0),
        "z@example.org": (DeliveryStatus.SENT, 1),  # other domains go on
    }
    assert sorted(smtp_server.recipients()) == ["c00000@gmail.com", "z@example.org"]
    assert attempt.status == AttemptStatus.PAUSED  # the held rows are retried later
    assert throttle.SharedRateLimiter(attempt_id=attempt.pk, rate=0, domain_rates={"gmail.com": 1000}).held(
        "c00002@gmail.com")


@pytest.mark.django_db(transaction=True)
def test_an_uncapped_domain_answering_451_is_deferred_as_before(owner, smtp_server):
    mailing = make_mailing(owner, 2, domain="gmail.com")
    smtp_server.behaviour.reject_rcpt = {"c00000@gmail.com": "451 4.7.1 Slow down"}
    services.mailing_saved(mailing=mailing)

    attempt = tasks.run_mailing(mailing.pk)

    rows = dict(Delivery.objects.filter(attempt=attempt).values_list("email", "tries"))
    assert rows == {"c00000@gmail.com": 1, "c00001@gmail.com": 1}
    assert smtp_server.recipients() == ["c00001@gmail.com"]
