"""The task queue belongs to one deployment, and a task it cannot read is a visible failure.

Two deployments on one Redis used to share the queue name "mailing": each took the other's
tasks, failed their signature and dropped them silently.
"""
import os
import subprocess
import sys
import uuid
from multiprocessing import Event
from queue import SimpleQueue
from pathlib import Path

import pytest
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Failure
from django_q.pusher import pusher
from django_q.signing import SignedPackage

from mailings.queue_broker import UNREADABLE_TASK, OrmBroker, RecordUnreadableTasks, RedisBroker

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs a real Redis: set REDIS_URL")


def in_deployment(prefix, code, tmp_path):
    """Run ``code`` in a separate Django process of the deployment with this CACHE_KEY_PREFIX."""
    env = {**os.environ, "CACHE_KEY_PREFIX": prefix, "CACHE_DIR": str(tmp_path / prefix)}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def foreign_task(func="math.floor"):
    """A task package as another deployment (another SECRET_KEY) would have signed it."""
    task = {"id": uuid.uuid4().hex, "name": "send e-mail", "func": func, "args": (1.5,), "kwargs": {}}
    saved = Conf.SECRET_KEY
    Conf.SECRET_KEY = "the-other-deployment's-key"
    try:
        return SignedPackage.dumps(task)
    finally:
        Conf.SECRET_KEY = saved


def run_pusher_once(broker):
    """django-q2's own pusher, one round: what it passes on to the workers."""
    tasks, stop = SimpleQueue(), Event()  # the pusher only calls put(); no feeder thread
    stop.set()  # the pusher checks the event after each round
    pusher(tasks, stop, broker=broker)
    passed_on = []
    while not tasks.empty():
        passed_on.append(tasks.get())
    return passed_on


@pytest.mark.django_db
def test_the_queue_is_named_after_the_deployment(settings):
    assert settings.Q_CLUSTER["name"] == settings.CACHE_KEY_PREFIX
    assert isinstance(get_broker(), RecordUnreadableTasks)


@needs_redis
def test_two_deployments_on_one_redis_do_not_see_each_others_tasks(tmp_path):
    one, other = f"h4-one-{uuid.uuid4().hex[:6]}", f"h4-other-{uuid.uuid4().hex[:6]}"
    queue_size = "from django_q.brokers import get_broker; print(get_broker().queue_size())"
    try:
        in_deployment(one, "from django_q.tasks import async_task; async_task('math.floor', 1.5)", tmp_path)

        assert in_deployment(other, queue_size, tmp_path) == "0"
        assert in_deployment(one, queue_size, tmp_path) == "1"
    finally:
        for name in (one, other):
            RedisBroker(list_key=name).delete_queue()


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_task_signed_with_another_key_ends_as_a_failed_task_on_redis():
    broker = RedisBroker(list_key=f"h4-test-{uuid.uuid4().hex[:6]}")
    try:
        broker.enqueue(foreign_task())

        assert run_pusher_once(broker) == []
        assert broker.queue_size() == 0
        failure = Failure.objects.get()
        assert failure.name == UNREADABLE_TASK
        assert "BadSignature" in failure.result
        assert failure.args is None  # the foreign payload is not kept
    finally:
        broker.delete_queue()


@pytest.mark.django_db(transaction=True)
def test_a_task_signed_with_another_key_ends_as_a_failed_task_on_the_orm_broker():
    broker = OrmBroker(list_key="h4-orm-test")
    broker.enqueue(foreign_task())
    readable = SignedPackage.dumps({"id": uuid.uuid4().hex, "name": "fine", "func": "math.floor",
                                    "args": (2.5,), "kwargs": {}})
    broker.enqueue(readable)

    passed_on = run_pusher_once(broker) + run_pusher_once(broker)  # one task per round (BULK=1)

    assert [task["name"] for task in passed_on] == ["fine"]
    assert broker.queue_size() == 0
    assert Failure.objects.get().name == UNREADABLE_TASK
