"""E-mail backend that hands every message to the task queue (no SMTP in a web request).

Django's ``send_mail`` (verification, password reset, ...) calls this backend; it queues
each message once the current transaction commits, and a django-q2 worker sends it with
``settings.MAIL_TRANSPORT_BACKEND`` (``TransportEmailBackend``: ``lib.smtp``'s transport,
which DKIM-signs every message when a key is configured). A web request never waits on SMTP.

A delivered message leaves no copy in django-q's task table (``save=False``): a message may
carry a link that must not sit at rest. Account mail (backoffice/accounts/mail.py) queues
only ids and builds its message in the worker.
"""
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from lib.smtp import SMTPTransport, TransportError

SEND_TASK = "lib.mail_backend.send_queued_message"
QUEUED_BACKEND = "lib.mail_backend.QueuedEmailBackend"
# Its dotted path before it moved to lib/; a deployment's EMAIL_BACKEND may still name it.
OLD_QUEUED_BACKEND = "mailings.mail_backend.QueuedEmailBackend"


def queue_in_use():
    """True when e-mail goes through the task queue (the default EMAIL_BACKEND)."""
    return settings.EMAIL_BACKEND in (QUEUED_BACKEND, OLD_QUEUED_BACKEND)


class QueuedEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        from django_q.tasks import async_task

        count = 0
        for message in email_messages:
            message.connection = None  # connections do not pickle; the worker opens its own
            transaction.on_commit(
                lambda message=message: async_task(SEND_TASK, message, task_name="send e-mail", save=False)
            )
            count += 1
        return count


def send_queued_message(message):
    """The worker side: send with the real transport; a failure is raised and recorded by django-q."""
    connection = get_connection(settings.MAIL_TRANSPORT_BACKEND, fail_silently=False)
    return connection.send_messages([message])


def wire_bytes(message):
    """A Django EmailMessage as DATA wants it: CRLF line ends, ending with one."""
    data = message.message().as_bytes(linesep="\r\n")
    return data if data.endswith(b"\r\n") else data + b"\r\n"


class TransportEmailBackend(BaseEmailBackend):
    """Django's e-mail API over ``lib.smtp.SMTPTransport``: the same SMTP code (timeouts,
    failure classes, DKIM signing) as mailings and account mail, one session per call."""

    def send_messages(self, email_messages):
        transport, sent = SMTPTransport.from_settings(), 0
        try:
            transport.open()
            for message in email_messages:
                sender = parseaddr(message.from_email)[1]
                data = wire_bytes(message)
                for recipient in message.recipients():
                    transport.send(sender, recipient, data)
                sent += bool(message.recipients())
        except TransportError:
            if not self.fail_silently:
                raise
        finally:
            transport.close()
        return sent
