"""A copy of a mailing to start from: the same message, audience and schedule, disabled.

The copy is created disabled (by the person who asked for it) rather than with a new start
time: a copy that could send on its own, the moment it is saved, is a second mailing to the
same people that nobody has looked at yet. Its owner checks the schedule, changes what they
came to change, and enables it; until then it sends nothing and says so (``held_reason``).
"""
from django.db import transaction
from django.utils import timezone

from mailings.models import Mailing, MailingStatus

# Fields that describe what the mailing has done, not what it is: the copy starts afresh.
STATE_FIELDS = {
    "id", "created_at", "updated_at", "status", "is_enabled", "disabled_at", "disabled_by",
    "next_run_at", "paused_until", "pause_reason",
}


def duplicate_mailing(*, mailing, actor, now=None):
    """Create and return a disabled copy of ``mailing`` with all its recipients' relations."""
    now = now or timezone.now()
    copied = {
        field.attname: getattr(mailing, field.attname)
        for field in Mailing._meta.concrete_fields
        if field.name not in STATE_FIELDS
    }
    with transaction.atomic():
        copy = Mailing.objects.create(
            **copied, status=MailingStatus.CREATED, is_enabled=False, disabled_at=now, disabled_by=actor,
        )
        # Every many-to-many relation (clients, and any audience added later) comes along.
        for relation in Mailing._meta.many_to_many:
            getattr(copy, relation.name).set(getattr(mailing, relation.name).all())
    return copy
