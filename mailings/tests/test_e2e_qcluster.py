"""End to end with real ``manage.py qcluster`` processes on PostgreSQL + Redis.

Two clusters share a 2,000-recipient mailing; the one sending is killed with SIGKILL mid-run
and restarted. Every recipient must receive exactly one copy, except rows recorded as
'unknown' (in flight when the worker died), which receive at most one. The same run checks
the scheduling promises with nobody acting: a due mailing starts within 5 s of its save, a
future one within 30 s of its time.
"""
import datetime
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from mailings import dispatch, services
from mailings.models import Attempt, AttemptKind, AttemptStatus, Delivery, DeliveryStatus
from mailings.tests.factories import make_mailing

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 2000

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def services_missing():
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        return ("needs PostgreSQL and Redis: set DATABASE_URL=postgres://... and REDIS_URL=redis://... "
                f"(this run uses {connection.vendor} and REDIS_URL={settings.REDIS_URL or 'unset'})")
    return ""


def database_url():
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Cluster:
    """One ``manage.py qcluster`` in its own process group, its log in a file."""

    def __init__(self, name, env, log_dir):
        self.name, self.env, self.log_path = name, env, log_dir / f"{name}.log"
        self.process = None
        self.generation = 0

    def start(self):
        self.generation += 1
        self.log = open(self.log_path, "a")
        self.log.write(f"=== start {self.generation}\n")
        self.log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=self.env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    def text(self):
        return self.log_path.read_text(errors="replace")

    def wait_running(self, deadline):
        """Until this process's cluster reports itself up in the broker (its own status record)."""
        from django_q.conf import Conf
        from django_q.status import Stat

        def up():
            return any(stat.pid == self.process.pid and stat.status in (Conf.IDLE, Conf.WORKING)
                       for stat in Stat.get_all())

        while time.monotonic() < deadline:
            if up():
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not start:\n{self.text()[-3000:]}")

    def pids(self):
        """The processes of this cluster: its own process group (start_new_session)."""
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.process.pid:
                        yield int(entry.name)
                except ProcessLookupError:
                    continue

    def is_connected_to(self, port):
        """True while one of this cluster's processes holds a TCP connection to ``port``."""
        sockets = {f"socket:[{inode}]" for inode in connected_socket_inodes(port)}
        for pid in self.pids():
            try:
                if any(os.readlink(fd) in sockets for fd in Path(f"/proc/{pid}/fd").iterdir()):
                    return True
            except (FileNotFoundError, ProcessLookupError):
                continue  # the process or the descriptor went away meanwhile
        return False

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self):
        # Test processes hold no state worth a graceful stop (which waits for tasks).
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        if self.process and not self.log.closed:
            self.log.close()


def connected_socket_inodes(port):
    """Inodes of the established TCP sockets whose remote end is local ``port`` (Linux /proc)."""
    inodes = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if remote_port == port and state == "01":  # 01: ESTABLISHED
                inodes.add(inode)
    return inodes


def wait_until(predicate, deadline, what):
    """The first true value of ``predicate()`` before ``deadline``."""
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def clusters(smtp_server, tmp_path):
    reason = services_missing()
    if reason:
        print(f"\nskipped end-to-end qcluster test: {reason}")
        pytest.skip(reason)
    from django_q.brokers import get_broker

    get_broker().purge_queue()  # nothing left over from an earlier run
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "EMAIL_HOST": smtp_server.host,
        "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "Q_WORKERS": "2",
        "MAILING_RATE_LIMIT": "150",  # long enough a run to kill it in the middle
        "MAILING_BATCH_SIZE": "50",
        "MAILING_STALE_AFTER": "4",
        "LOG_LEVEL": "INFO",
        "DEBUG": "0",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    started = [Cluster(name, env, tmp_path) for name in ("alpha", "beta")]
    try:
        yield started
    finally:
        for cluster in started:
            cluster.stop()


def test_two_workers_a_kill_and_a_restart_send_each_recipient_one_copy(clusters, smtp_server, django_user_model):
    owner = django_user_model.objects.create_user(email="erik@example.com", password="x-long-password-1",
                                                  is_staff=True, email_verified_at=timezone.now())
    dispatch.ensure_schedules(now=timezone.now() - datetime.timedelta(minutes=2))
    deadline = time.monotonic() + 85
    for cluster in clusters:
        cluster.start()
    for cluster in clusters:
        cluster.wait_running(deadline)

    # A mailing saved with its first send already due starts within 5 s.
    big = make_mailing(owner, RECIPIENTS, start_at=timezone.now() - datetime.timedelta(seconds=1))
    # A future one, beyond the save-time look-ahead: only the scheduler can start it.
    later = make_mailing(owner, 3, start_at=timezone.now() + datetime.timedelta(seconds=40), domain="later.example.org")
    saved_at = time.monotonic()
    services.mailing_saved(mailing=big)
    services.mailing_saved(mailing=later)
    wait_until(lambda: smtp_server.messages, deadline, "the first message")
    assert time.monotonic() - saved_at <= 5, "a due mailing must start within 5 s of its save"

    # Kill the cluster that is sending, mid-run, and start it again.
    wait_until(lambda: len(smtp_server.messages) >= 400, deadline, "400 messages")
    attempt = Attempt.objects.get(mailing=big, kind=AttemptKind.SCHEDULED)
    # The sending cluster is the one whose worker is connected to the SMTP server.
    def sending_cluster():
        return next((c for c in clusters if c.is_connected_to(smtp_server.port)), None)

    victim = wait_until(sending_cluster, deadline, "the sending worker")
    victim.kill()
    print(f"killed {victim.name} after {time.monotonic() - saved_at:.1f} s")
    sent_before_kill = len(smtp_server.messages)
    assert sent_before_kill < RECIPIENTS, "the run ended before the kill; nothing was tested"
    victim.start()

    def finished():
        attempt.refresh_from_db()
        return attempt.status in (AttemptStatus.SUCCESS, AttemptStatus.FAILURE)

    wait_until(finished, deadline, "the resumed run to finish")
    print(f"run finished after {time.monotonic() - saved_at:.1f} s; unknown: {attempt.unknown}")
    wait_until(lambda: Attempt.objects.filter(mailing=later, finished_at__isnull=False).exists(), deadline,
               "the future mailing")

    received = Counter(rcpt for rcpt in smtp_server.recipients() if "@example.org" in rcpt)
    unknown = set(Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.UNKNOWN).values_list("email", flat=True))
    everyone = {f"c{i:05d}@example.org" for i in range(RECIPIENTS)}
    assert all(count == 1 for count in received.values()), "a recipient got two copies"
    assert everyone - unknown <= set(received), "a recipient not recorded unknown got nothing"
    assert set(received) <= everyone
    assert attempt.sent + attempt.unknown == RECIPIENTS and attempt.failed == 0
    assert attempt.unknown <= 50  # at most the batch in flight
    assert Attempt.objects.filter(mailing=big).count() == 1

    first_later = Delivery.objects.filter(attempt__mailing=later).order_by("sent_at").values_list("sent_at", flat=True).first()
    assert first_later is not None and first_later - later.start_at <= datetime.timedelta(seconds=30)
