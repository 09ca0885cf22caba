"""Blocking and unblocking users: the one place that changes ``is_active``."""
from django.db import transaction
from django.utils import timezone


@transaction.atomic
def block_user(*, user, actor):
    """Block ``user`` (``actor`` did it); False if they were already blocked."""
    if not user.is_active:
        return False
    user.is_active = False
    user.blocked_at = timezone.now()
    user.blocked_by = actor
    user.save(update_fields=["is_active", "blocked_at", "blocked_by"])
    return True


@transaction.atomic
def unblock_user(*, user, actor):
    """Unblock ``user``; False if they were not blocked."""
    if user.is_active:
        return False
    user.is_active = True
    user.blocked_at = None
    user.blocked_by = None
    user.save(update_fields=["is_active", "blocked_at", "blocked_by"])
    return True
