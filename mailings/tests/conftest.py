"""Fixtures of the sending engine's tests: mailings with clients, fast retries."""
import datetime

import pytest
from django.utils import timezone

from mailings.models import Client, Mailing, Message


@pytest.fixture
def fast_retries(settings):
    """No sleeping between connection retries; a short SMTP timeout."""
    settings.MAILING_CONNECT_BACKOFF = 0
    settings.EMAIL_TIMEOUT = 1
    settings.MAILING_CONNECT_RETRIES = 3


def make_mailing(owner, count=3, *, start_at=None, periodicity="once", end_at=None, body=None, subject=None,
                 domain="example.org", **extra):
    message = Message.objects.create(
        owner=owner,
        subject=subject or "Hello {{ full_name }}",
        body=body or "<p>Dear {{ full_name }}, this goes to {{ email }}.</p>",
    )
    mailing = Mailing.objects.create(
        owner=owner, message=message, start_at=start_at or timezone.now() - datetime.timedelta(minutes=1),
        periodicity=periodicity, end_at=end_at, **extra,
    )
    clients = Client.objects.bulk_create(
        Client(owner=owner, email=f"c{i:05d}@{domain}", full_name=f"Client {i}") for i in range(count)
    )
    mailing.clients.set(clients)
    return mailing


@pytest.fixture
def mailing_factory():
    return make_mailing
