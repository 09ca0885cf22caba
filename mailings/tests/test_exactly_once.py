"""Exactly-once, checked at the server (issue #9).

A real SMTP server on loopback (and postfix's smtp-sink where installed) misbehaves after
the final dot, drops connections before it, or a real worker process is killed with SIGKILL
mid-run. Whatever happens, every recipient receives the run exactly once or is recorded
'unknown' (never more than once), 'unknown' rows are at most the messages that were inside
an SMTP transaction, and a failure of the server never counts against a recipient.
"""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from lib.smtp_server import GARBAGE, Behaviour
from mailings import services
from mailings.delivery import loop
from mailings.models import (
    Attempt, AttemptKind, AttemptStatus, Client, Delivery, DeliveryStatus, SkipReason, Suppression, SuppressionReason,
)
from mailings.runs import claim
from mailings.tests.factories import make_mailing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("english")]

ROOT = Path(__file__).resolve().parents[2]
SMTP_SINK = "/usr/sbin/smtp-sink"
PASSES = 20  # a run needs a few passes (pauses) to finish; reaching this many means it never would


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user(
        email="olga@example.com", password="x-long-password-1", full_name="Olga",
        is_staff=True, is_superuser=True, email_verified_at=timezone.now(),
    )


@pytest.fixture
def fast(settings):
    settings.EMAIL_TIMEOUT = 2
    settings.MAILING_CONNECT_BACKOFF = 0
    settings.MAILING_CONNECT_RETRIES = 3
    settings.MAILING_MAX_TRIES = 3


def emails(count, domain="example.org"):
    return {f"c{i:05d}@{domain}" for i in range(count)}


def start_run(owner, count, **extra):
    mailing = make_mailing(owner, count, **extra)
    services.mailing_saved(mailing=mailing)
    return mailing, claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now())


def deliver_until_done(mailing, attempt, *, on_pause=None):
    """Deliver, and resume after each pause as the dispatcher would, until the run ends."""
    attempt = loop.deliver(attempt)
    for _ in range(PASSES):
        if attempt.status != AttemptStatus.PAUSED:
            return attempt
        if on_pause:
            on_pause()
        mailing.refresh_from_db()
        attempt = loop.deliver(claim.claim_resume(attempt_id=attempt.pk, now=mailing.paused_until))
    raise AssertionError(f"the run did not finish in {PASSES} passes")


def rows(attempt):
    return {email: (status, tries) for email, status, tries in
            Delivery.objects.filter(attempt=attempt).values_list("email", "status", "tries")}


def assert_once_or_unknown(received, statuses, everyone):
    """At the server: nobody twice; everyone not 'unknown' exactly once."""
    copies = Counter(received)
    assert {e: n for e, n in copies.items() if n > 1} == {}, "a recipient got two copies"
    unknown = {email for email, status in statuses.items() if status == DeliveryStatus.UNKNOWN}
    assert everyone - unknown <= set(copies), "a recipient not recorded unknown got nothing"
    assert set(copies) <= everyone


# --- After the final dot ------------------------------------------------------------------


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-command-at-a-time"])
@pytest.mark.parametrize("ending, words", [
    ("drop", "broke after the message was sent"),
    ("garbage", "Unclear reply after the message was sent"),
    ("299 2.0.0 Stored, probably", "Unclear reply after the message was sent: 299 2.0.0 Stored, probably"),
])
def test_a_stored_message_whose_verdict_is_unclear_is_unknown_and_never_resent(
        owner, smtp_server, fast, ending, words, pipelining):
    smtp_server.behaviour.after_data = ending
    smtp_server.behaviour.pipelining = pipelining
    mailing, attempt = start_run(owner, 5)

    attempt = deliver_until_done(mailing, attempt)

    assert Counter(smtp_server.recipients()) == Counter(emails(5))  # each stored once, none resent
    assert {status for status, _tries in rows(attempt).values()} == {DeliveryStatus.UNKNOWN}
    assert (attempt.status, attempt.sent, attempt.unknown) == (AttemptStatus.FAILURE, 0, 5)
    replies = set(Delivery.objects.filter(attempt=attempt).values_list("smtp_response", flat=True))
    assert all(words in reply for reply in replies), replies


@pytest.mark.parametrize("reply, status", [
    ("451 4.3.0 Try again later", DeliveryStatus.DEFERRED),
    ("554 5.6.0 Message rejected", DeliveryStatus.FAILED),
])
def test_a_clear_refusal_of_the_data_is_deferred_or_failed_as_before(owner, smtp_server, fast, reply, status):
    smtp_server.behaviour.data_reply = reply
    mailing, attempt = start_run(owner, 2)

    loop.deliver(attempt)

    assert set(rows(attempt).values()) == {(status, 1)}
    assert smtp_server.messages == []


def test_random_drops_under_pipelining_never_give_two_copies(owner, smtp_server, fast, settings):
    settings.MAILING_BATCH_SIZE = 7
    smtp_server.behaviour = Behaviour(random_drops=0.15, seed=9)
    mailing, attempt = start_run(owner, 40)

    attempt = deliver_until_done(mailing, attempt)

    statuses = {email: status for email, (status, _tries) in rows(attempt).items()}
    assert_once_or_unknown(smtp_server.recipients(), statuses, emails(40))
    # Only a drop after the final dot leaves a row unknown; every other drop is retried.
    assert attempt.unknown == smtp_server.dropped["end of data"] > 0
    assert attempt.sent + attempt.unknown == 40 and attempt.failed == 0
    assert sum(smtp_server.dropped.values()) > attempt.unknown  # drops before the data happened too


@pytest.mark.skipif(not os.path.exists(SMTP_SINK), reason=f"postfix's smtp-sink is not installed ({SMTP_SINK})")
def test_postfix_smtp_sink_disconnecting_after_the_dot_gets_each_message_once(owner, fast, settings):
    """``smtp-sink -q .`` hangs up right after the final dot, having read the message."""
    # smtp-sink run as root drops its privileges to nobody, who cannot enter pytest's tmp_path.
    with tempfile.TemporaryDirectory(prefix="smtp-sink-") as directory:
        dumps = Path(directory)
        dumps.chmod(0o777)
        received, attempt = sink_run(owner, settings, dumps)

    assert Counter(received) == Counter(emails(6))
    assert (attempt.sent, attempt.unknown) == (0, 6)


def sink_run(owner, settings, dumps):
    """Deliver a 6-recipient run to ``smtp-sink -q .``; the recipients it read, and the run."""
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen([SMTP_SINK, *user, "-q", ".", "-d", f"{dumps}/%M.", f"127.0.0.1:{port}", "10"])
    try:
        wait_for_port(port)
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = ""
        mailing, attempt = start_run(owner, 6)

        attempt = deliver_until_done(mailing, attempt)
    finally:
        sink.kill()
        sink.wait(10)

    received = [m for f in dumps.iterdir() for m in re.findall(r"X-Rcpt-Args: <([^>]+)>", f.read_text())]
    return received, attempt


# --- Failures of the server before the data ------------------------------------------------


@pytest.mark.parametrize("fault", ["421 at connect", "garbage greeting", "MAIL FROM", "RCPT TO", "DATA"])
def test_a_failing_server_does_not_burn_the_recipients_tries(owner, smtp_server, fast, fault):
    if fault == "421 at connect":
        smtp_server.behaviour.connect_reply = "421 4.3.2 Service not available"
    elif fault == "garbage greeting":
        smtp_server.behaviour.connect_reply = GARBAGE
    else:
        smtp_server.behaviour.drop_at = fault
    broken = smtp_server.behaviour
    mailing, attempt = start_run(owner, 4)

    attempt = loop.deliver(attempt)
    for _ in range(4):  # more pauses than MAILING_MAX_TRIES
        assert attempt.status == AttemptStatus.PAUSED
        mailing.refresh_from_db()
        attempt = loop.deliver(claim.claim_resume(attempt_id=attempt.pk, now=mailing.paused_until))

    assert set(rows(attempt).values()) == {(DeliveryStatus.PENDING, 0)}
    assert smtp_server.messages == []
    assert broken is smtp_server.behaviour
    smtp_server.behaviour = Behaviour()
    attempt = deliver_until_done(mailing, attempt)

    assert attempt.status == AttemptStatus.SUCCESS
    assert set(rows(attempt).values()) == {(DeliveryStatus.SENT, 1)}
    assert Counter(smtp_server.recipients()) == Counter(emails(4))


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-command-at-a-time"])
@pytest.mark.parametrize("step", ["MAIL FROM", "RCPT TO", "DATA"])
def test_a_drop_is_reported_at_the_step_it_happened(owner, smtp_server, fast, step, pipelining):
    smtp_server.behaviour.drop_at = step
    smtp_server.behaviour.pipelining = pipelining
    mailing, attempt = start_run(owner, 1)

    loop.deliver(attempt)

    reply = Delivery.objects.get(attempt=attempt).smtp_response
    assert reply == f"The server closed the connection during {step}"


# --- Clients deleted or unsubscribed mid-run -------------------------------------------------


def test_a_client_deleted_or_unsubscribed_mid_run_is_skipped(owner, smtp_server, fast, settings):
    settings.MAILING_BATCH_SIZE = 100  # the whole run is claimed before the first send
    mailing, attempt = start_run(owner, 5)

    def change_clients():
        try:
            Client.objects.filter(email="c00003@example.org").delete()
            Client.objects.filter(email="c00004@example.org").update(unsubscribed_at=timezone.now())
        finally:
            connection.close()  # this thread's own connection

    def meanwhile(received):
        # While the worker waits for the verdict on c00001; in a thread of its own, since
        # the server's event loop may not use the ORM.
        if received.rcpt_tos == ["c00001@example.org"]:
            thread = threading.Thread(target=change_clients)
            thread.start()
            thread.join()

    smtp_server.on_message = meanwhile
    attempt = loop.deliver(attempt)

    assert sorted(smtp_server.recipients()) == ["c00000@example.org", "c00001@example.org", "c00002@example.org"]
    skipped = dict(Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.SKIPPED)
                   .values_list("email", "smtp_response"))
    assert skipped == {"c00003@example.org": "The client was deleted before sending.",
                       "c00004@example.org": "The client unsubscribed before sending."}
    reasons = dict(Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.SKIPPED)
                   .values_list("email", "skip_reason"))
    assert reasons == {"c00003@example.org": SkipReason.DELETED, "c00004@example.org": SkipReason.UNSUBSCRIBED}
    assert (attempt.status, attempt.sent) == (AttemptStatus.SUCCESS, 3)


def test_an_address_suppressed_mid_run_is_skipped_with_the_suppressions_reason(owner, smtp_server, fast, settings):
    settings.MAILING_BATCH_SIZE = 100  # the whole run is claimed before the first send
    mailing, attempt = start_run(owner, 4)
    other = type(owner).objects.create_user(email="other@example.com", password="x-long-password-1")

    def suppress_addresses():
        try:
            # Stored in another case: the check compares addresses case-insensitively.
            Suppression.objects.create(owner=owner, email="C00002@Example.org", reason=SuppressionReason.BOUNCED)
            # Another owner's list does not concern this mailing.
            Suppression.objects.create(owner=other, email="c00003@example.org", reason=SuppressionReason.MANUAL)
        finally:
            connection.close()

    def meanwhile(received):
        if received.rcpt_tos == ["c00001@example.org"]:
            thread = threading.Thread(target=suppress_addresses)
            thread.start()
            thread.join()

    smtp_server.on_message = meanwhile
    attempt = loop.deliver(attempt)

    assert sorted(smtp_server.recipients()) == ["c00000@example.org", "c00001@example.org", "c00003@example.org"]
    skipped = list(Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.SKIPPED)
                   .values_list("email", "skip_reason", "smtp_response"))
    assert skipped == [("c00002@example.org", SkipReason.BOUNCED,
                        "The address was put on the suppression list (bounced) before sending.")]
    assert (attempt.status, attempt.sent) == (AttemptStatus.SUCCESS, 3)


def test_a_test_send_without_a_client_still_goes_out(owner, smtp_server, fast):
    mailing = make_mailing(owner, 2)
    attempt = claim.claim_test_run(mailing_id=mailing.pk, email=owner.email, now=timezone.now())

    attempt = loop.deliver(attempt)

    assert attempt.kind == AttemptKind.TEST and attempt.sent == 1
    assert smtp_server.recipients() == [owner.email]
    assert smtp_server.messages[0].message["To"] == f"Olga <{owner.email}>"


# --- A real worker killed with SIGKILL ----------------------------------------------------------


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=10):
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


class WorkerDatabase:
    """The database a worker process uses: the test database on PostgreSQL; on SQLite (in
    memory for the tests) a file copy of it, read back with sqlite3."""

    def __init__(self, tmp_path):
        self.path = None
        if connection.vendor == "sqlite":
            self.path = tmp_path / "worker.sqlite3"
            with connection.cursor() as cursor:
                cursor.execute("VACUUM INTO %s", [str(self.path)])
            self.url = f"sqlite:///{self.path}"
        else:
            db = connection.settings_dict
            auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
            self.url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"

    def deliveries(self, attempt_id):
        """{email: (status, tries)} as the workers left them."""
        if self.path is None:
            return {e: (s, t) for e, s, t in Delivery.objects.filter(attempt_id=attempt_id)
                    .values_list("email", "status", "tries")}
        with sqlite3.connect(self.path) as db:
            query = f"SELECT email, status, tries FROM {Delivery._meta.db_table} WHERE attempt_id = ?"
            return {e: (s, t) for e, s, t in db.execute(query, [attempt_id])}

    def attempt_of(self, mailing_id):
        if self.path is None:
            return Attempt.objects.get(mailing_id=mailing_id).pk
        with sqlite3.connect(self.path) as db:
            query = f"SELECT id FROM {Attempt._meta.db_table} WHERE mailing_id = ?"
            return db.execute(query, [mailing_id]).fetchone()[0]

    def attempt(self, attempt_id):
        if self.path is None:
            return Attempt.objects.filter(pk=attempt_id).values_list("status", "sent", "unknown", "failed").get()
        with sqlite3.connect(self.path) as db:
            query = f"SELECT status, sent, unknown, failed FROM {Attempt._meta.db_table} WHERE id = ?"
            return db.execute(query, [attempt_id]).fetchone()


def start_worker(env, log, *args):
    return subprocess.Popen([sys.executable, "manage.py", "run_mailing_sending", *args], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def test_repeated_sigkills_of_a_real_worker_lose_at_most_the_message_in_flight(owner, smtp_server, tmp_path):
    recipients, kills = 150, 3
    mailing = make_mailing(owner, recipients)
    services.mailing_saved(mailing=mailing)
    smtp_server.behaviour.delay = 0.01  # time inside the SMTP transaction, where a kill may land
    database = WorkerDatabase(tmp_path)
    stale_after = 1.5
    env = {
        **os.environ, "DATABASE_URL": database.url,
        "EMAIL_HOST": smtp_server.host, "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "MAILING_RATE_LIMIT": "40",  # long enough a run to kill it several times
        "MAILING_STALE_AFTER": str(stale_after), "LOG_LEVEL": "WARNING", "DEBUG": "0",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = open(tmp_path / "worker.log", "a")
    worker = start_worker(env, log, "--mailing", str(mailing.pk))
    killed = 0
    try:
        while killed < kills:
            target = len(smtp_server.messages) + 15
            deadline = time.monotonic() + 60
            while len(smtp_server.messages) < target and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.005)
            if worker.poll() is not None:
                break  # the run ended (as it does when a kill wrote the batch off): check what it left
            os.killpg(worker.pid, signal.SIGKILL)
            killed += 1
            worker.wait(10)
            time.sleep(stale_after + 0.5)  # the run's heartbeat goes stale: it may be taken over
            worker = start_worker(env, log)  # due runs and dead ones are resumed
        assert worker.wait(120) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        log.close()
    attempt_id = database.attempt_of(mailing.pk)
    assert killed >= 1, "the worker ended before the first kill; nothing was tested"
    assert_run_survived_kills(database, attempt_id, smtp_server, recipients, killed, tmp_path / "worker.log")


def assert_run_survived_kills(database, attempt_id, smtp_server, recipients, killed, log_path):
    """After SIGKILLs: the run ended, everyone got it once or is unknown, unknown <= kills."""
    deliveries = database.deliveries(attempt_id)
    status, sent, unknown, failed = database.attempt(attempt_id)
    statuses = {email: s for email, (s, _tries) in deliveries.items()}
    output = log_path.read_text(errors="replace")[-3000:]
    assert status in (AttemptStatus.SUCCESS, AttemptStatus.FAILURE), output
    assert_once_or_unknown(smtp_server.recipients(), statuses, emails(recipients))
    assert unknown <= killed, f"{unknown} unknown after {killed} kills"
    assert Counter(statuses.values()) == Counter({DeliveryStatus.SENT: sent, DeliveryStatus.UNKNOWN: unknown})
    assert sent + unknown == recipients and failed == 0
    # A message the server accepted is recorded sent, whoever was killed after it.
    received = set(smtp_server.recipients())
    assert {e for e, s in statuses.items() if s == DeliveryStatus.SENT} <= received
    assert all(tries == 1 for s, tries in deliveries.values() if s == DeliveryStatus.SENT)
