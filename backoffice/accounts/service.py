"""Accounts: registration, e-mail verification, account mail, blocking. The rules, called by the views.

Unverified accounts are active (``is_active`` means "not blocked") but the login backend
refuses them until ``email_verified_at`` is set. Verification never touches ``is_active``,
so a verification link cannot unblock a blocked account.
"""
import logging

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice import permissions
from backoffice.accounts import tokens

log = logging.getLogger(__name__)


def verification_link(user):
    """Absolute link on SITE_URL, the public address (the request may come via a proxy)."""
    return settings.SITE_URL + reverse("verify-email", args=[tokens.make_token(user)])


def send_verification_email(*, user):
    """Send the verification link; returns False when the mail server refused it.

    With the queued e-mail backend this only enqueues; when the mail server or the queue
    cannot take it, the failure is logged and the page offers to resend instead of a 500.
    """
    context = {
        "user": user,
        "link": verification_link(user),
        "valid_hours": max(1, settings.EMAIL_VERIFICATION_MAX_AGE // 3600),
    }
    try:
        send_mail(
            subject=_("Confirm your e-mail address"),
            message=render_to_string("registration/verify_email.txt", context),
            from_email=None,
            recipient_list=[user.email],
            html_message=render_to_string("registration/verify_email.html", context),
        )
    except Exception:  # SMTP, or the queue's broker (Redis errors are no OSError): never a 500
        log.exception("verification e-mail to user %s was not sent", user.pk)
        return False
    return True


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
    """Blocked the user."""
    if not user.is_active:
        return False
    user.is_active = False
    user.blocked_at = timezone.now()
    user.blocked_by = actor
    user.save(update_fields=["is_active", "blocked_at", "blocked_by"])
    return True


@transaction.atomic
def unblock_user(*, user, actor):
    """Unblocked the user."""
    if user.is_active:
        return False
    user.is_active = True
    user.blocked_at = None
    user.blocked_by = None
    user.save(update_fields=["is_active", "blocked_at", "blocked_by"])
    return True
