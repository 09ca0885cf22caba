"""E-mail backend that hands every message to the task queue (design §1: no SMTP in a request).

Django's ``send_mail`` (verification, password reset, ...) calls this backend; it queues
each message once the current transaction commits, and a django-q2 worker sends it with
``settings.MAIL_TRANSPORT_BACKEND`` (the SMTP backend). A web request never waits on SMTP.
"""
from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

SEND_TASK = "mailings.mail_backend.send_queued_message"


class QueuedEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        from django_q.tasks import async_task

        count = 0
        for message in email_messages:
            message.connection = None  # connections do not pickle; the worker opens its own
            transaction.on_commit(
                lambda message=message: async_task(SEND_TASK, message, task_name="send e-mail")
            )
            count += 1
        return count


def send_queued_message(message):
    """The worker side: send with the real transport; a failure is raised and recorded by django-q."""
    connection = get_connection(settings.MAIL_TRANSPORT_BACKEND, fail_silently=False)
    return connection.send_messages([message])
