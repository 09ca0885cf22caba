"""django-q2 brokers that record a task they cannot read as a failed task.

django-q2's pusher (django_q/pusher.py) unpacks each dequeued payload with
``SignedPackage.loads``; on ``BadSignature`` (a task signed with another SECRET_KEY or
cluster name, e.g. another deployment on the same Redis) it logs and calls
``broker.fail()``, which for Redis does nothing and for the ORM deletes the row: the task
vanishes and nobody sees it in the admin. These brokers check the signature as they
dequeue and store such a task in django-q's task table as a failure (without its
unreadable, possibly foreign, payload), so it shows under "Failed tasks".

The queue name is the deployment's (``Q_CLUSTER["name"]`` = ``CACHE_KEY_PREFIX``), so two
deployments sharing a Redis no longer take each other's tasks in the first place.
"""
import logging
import uuid

from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf
from django_q.signing import BadSignature, SignedPackage

log = logging.getLogger(__name__)

UNREADABLE_TASK = "unreadable task"


def record_unreadable_task(error):
    from django_q.models import Task

    now = timezone.now()
    Task.objects.create(
        id=uuid.uuid4().hex,
        name=UNREADABLE_TASK,
        func="-",
        cluster=Conf.CLUSTER_NAME,
        started=now,
        stopped=now,
        success=False,
        attempt_count=1,
        result=(
            f"The queue held a task this deployment cannot read ({error.__class__.__name__}: "
            f"{error}). It was signed with another SECRET_KEY or queue name, or is corrupted; "
            "check that every process of this deployment has the same SECRET_KEY and "
            "CACHE_KEY_PREFIX, and that no other deployment uses this queue."
        ),
    )


class RecordUnreadableTasks:
    """Mixin for a django-q2 broker: unreadable payloads become failed tasks, not silence."""

    def dequeue(self):
        readable = []
        for ack_id, payload in super().dequeue() or []:
            try:
                SignedPackage.loads(payload)
            except (TypeError, BadSignature) as error:
                log.error("unreadable task on queue %s: %s", self.list_key, error)
                record_unreadable_task(error)
                self.fail(ack_id)
                continue
            readable.append((ack_id, payload))
        return readable


class RedisBroker(RecordUnreadableTasks, Redis):
    pass


class OrmBroker(RecordUnreadableTasks, ORM):
    pass
