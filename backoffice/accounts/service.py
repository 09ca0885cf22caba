"""Accounts: registration, e-mail verification, account mail, blocking. The rules, called by the views.

Unverified accounts are active (``is_active`` means "not blocked") but the login backend
refuses them until ``email_verified_at`` is set. Verification never touches ``is_active``,
so a verification link cannot unblock a blocked account.
"""
import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from backoffice import permissions
from backoffice.accounts import mail

# One mail of a kind per account per this many seconds, so a form cannot flood a mailbox.
MAIL_INTERVAL = 60


class ServiceUnavailable(Exception):
    """The task queue or the cache cannot take the request now; nothing was changed."""


# Redis down (the cache: django-redis wraps redis-py's errors; the queue's broker: redis-py's).
OUTAGES = (RedisError, ConnectionInterrupted, mail.MailNotQueued)


def _unavailable_on_outage(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except OUTAGES as error:
            raise ServiceUnavailable(str(error)) from error

    return wrapper


@_unavailable_on_outage
def register(form):
    """Create the account and queue its verification link; for a taken address, mail its owner.

    The caller answers the same either way, so the page does not tell who has an account.
    Returns False when an inline (unqueued) send failed: the page offers a new link.
    Raises ServiceUnavailable, leaving no account behind, when the queue or cache is down.
    """
    owner = get_user_model().objects.filter(email__iexact=form.cleaned_data["email"]).first()
    if owner is not None:
        return _send_at_most_once_a_while(mail.REGISTRATION_ATTEMPT, owner)
    with transaction.atomic():
        user = form.save()  # its post_save signal also clears cached public pages (Redis)
    try:
        # Queued after the commit: the worker must find the account when it builds the link.
        return mail.send(mail.VERIFY, user)
    except mail.MailNotQueued:
        user.delete()  # an account whose link cannot be sent is half-made: leave nothing
        raise


@_unavailable_on_outage
def resend_verification(email):
    """A fresh link for an unverified, unblocked account; silence for any other address."""
    user = get_user_model().objects.filter(
        email__iexact=email, email_verified_at__isnull=True, is_active=True
    ).first()
    if user is not None:
        _send_at_most_once_a_while(mail.VERIFY, user)


@_unavailable_on_outage
def send_password_reset(user):
    mail.send(mail.PASSWORD_RESET, user)


def _send_at_most_once_a_while(kind, user):
    if not cache.add(f"accounts:{kind}:{user.pk}", 1, MAIL_INTERVAL):
        return True
    return mail.send(kind, user)


@transaction.atomic
def verify_email(*, user, now=None):
    """Mark the address verified and let the user into the back office as a ``Users`` member.

    Returns False, changing nothing, when the account is blocked.
    """
    if not user.is_active:
        return False
    user.email_verified_at = now or timezone.now()
    user.is_staff = True
    user.save(update_fields=["email_verified_at", "is_staff"])
    user.groups.add(Group.objects.get(name=permissions.USERS))
    return True


# --- Blocking: the one place that changes ``is_active`` ---------------------------------


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
