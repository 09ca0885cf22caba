"""E-mail backend that hands every message to the task queue (no SMTP in a web request).

Django's ``send_mail`` (verification, password reset, ...) calls this backend; it queues
each message once the current transaction commits, and a django-q2 worker sends it with
``settings.MAIL_TRANSPORT_BACKEND`` (the SMTP backend). A web request never waits on SMTP.

A delivered message leaves no copy in django-q's task table (``save=False``): a message may
carry a link that must not sit at rest. Account mail (backoffice/accounts/mail.py) queues
only ids and builds its message in the worker.
"""
from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

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
