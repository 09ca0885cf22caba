"""Account mail: the verification link, the password-reset link, "someone tried to register".

What is queued is only (kind, user id, language, try): the worker builds the link and the
message when it sends, so no live link or token sits at rest in the task queue's tables.
The worker classifies SMTP failures with ``lib.smtp`` (as mailings do) and tries a
temporary one (4xx, timeout, refusal) again later, backing off; a permanent failure, or the
last try, ends as a failed task and the user asks again (resend page, reset form).

With an ``EMAIL_BACKEND`` other than the queue (tests, a one-process setup), the message is
built and sent at once through that backend.
"""
import logging
from datetime import timedelta
from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from backoffice.accounts import tokens
from lib.mail_backend import queue_in_use, wire_bytes
from lib.smtp import SMTPTransport, TransportError

log = logging.getLogger(__name__)

VERIFY = "verify"
PASSWORD_RESET = "password-reset"
REGISTRATION_ATTEMPT = "registration-attempt"
DELIVER_TASK = "backoffice.accounts.mail.deliver"


class MailNotQueued(Exception):
    """The task queue (its broker: Redis or the database) cannot take the mail now."""


def send(kind, user):
    """Queue the mail (or send it now without the queue). False: the inline send failed.

    Raises ``MailNotQueued`` when the queue is unreachable, so the caller can undo and say so.
    """
    language = translation.get_language() or settings.LANGUAGE_CODE
    if queue_in_use():
        _enqueue(kind, user.pk, language, attempt=1)
        return True
    try:
        build_message(kind, user).send()
    except Exception:  # whatever the configured backend raises: the page offers to ask again
        log.exception("%s e-mail to user %s was not sent", kind, user.pk)
        return False
    return True


def _enqueue(kind, user_id, language, *, attempt):
    from django_q.tasks import async_task

    try:
        # save=False: a delivered mail leaves no row behind (a failed one keeps only ids).
        async_task(DELIVER_TASK, kind, user_id, language, attempt, task_name=f"account mail: {kind}",
                   save=False)
    except Exception as error:  # redis-py's errors are no OSError; the ORM broker's are DatabaseError
        raise MailNotQueued(str(error)) from error


def deliver(kind, user_id, language, attempt=1):
    """The worker side: build the message now and send it; retry a temporary failure later."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not _still_wanted(kind, user):
        return "not sent: no longer wanted"
    with translation.override(language):
        message = build_message(kind, user)
    transport = SMTPTransport.from_settings()
    try:
        transport.open()
        transport.send(parseaddr(message.from_email)[1], user.email, wire_bytes(message))
    except TransportError as error:
        # Never resend what may have been delivered; give up on a permanent refusal or the last try.
        if error.permanent or error.maybe_delivered or attempt >= settings.ACCOUNT_MAIL_MAX_TRIES:
            raise
        _retry_later(kind, user_id, language, attempt, error)
        return f"try {attempt} failed ({error.reply}); try {attempt + 1} scheduled"
    finally:
        transport.close()
    return "sent"


def _retry_later(kind, user_id, language, attempt, error):
    from django_q.models import Schedule
    from django_q.tasks import schedule

    delay = settings.ACCOUNT_MAIL_RETRY_DELAY * 2 ** (attempt - 1)
    log.warning("%s e-mail to user %s: try %s failed (%s); again in %ss", kind, user_id, attempt, error.reply, delay)
    schedule(DELIVER_TASK, kind, user_id, language, attempt + 1, schedule_type=Schedule.ONCE,
             next_run=timezone.now() + timedelta(seconds=delay),
             q_options={"save": False, "task_name": f"account mail: {kind}"})


def _still_wanted(kind, user):
    """A blocked user gets no reset link; an address verified meanwhile needs no link."""
    if kind == VERIFY:
        return user.is_active and user.email_verified_at is None
    if kind == PASSWORD_RESET:
        return user.is_active and user.has_usable_password()
    return True


def build_message(kind, user):
    subject, template, context = BUILDERS[kind](user)
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        to=[user.email],
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message


def _verification(user):
    return _("Confirm your e-mail address"), "registration/verify_email", {
        "user": user,
        "link": settings.SITE_URL + reverse("verify-email", args=[tokens.make_token(user)]),
        "valid_hours": max(1, settings.EMAIL_VERIFICATION_MAX_AGE // 3600),
    }


def _password_reset(user):
    """Django's password-reset e-mail context, with the link on SITE_URL (the public address)."""
    site = urlsplit(settings.SITE_URL)
    context = {
        "email": user.email,
        "domain": site.netloc,
        "site_name": site.netloc,
        "protocol": site.scheme,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
    }
    subject = "".join(render_to_string("registration/password_reset_subject.txt", context).splitlines())
    return subject, "registration/password_reset_email", context


def _registration_attempt(user):
    return _("Someone tried to register with your address"), "registration/registration_attempt_email", {
        "user": user,
        "login_link": settings.SITE_URL + reverse("login"),
        "reset_link": settings.SITE_URL + reverse("password_reset"),
        "resend_link": settings.SITE_URL + reverse("resend-verification"),
        "verified": user.email_verified_at is not None,
    }


BUILDERS = {VERIFY: _verification, PASSWORD_RESET: _password_reset, REGISTRATION_ATTEMPT: _registration_attempt}
