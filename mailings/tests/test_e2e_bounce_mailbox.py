"""End to end: a real ``manage.py qcluster`` runs the bounce-mailbox schedule by itself and
handles a DSN waiting in a real dovecot mailbox (PostgreSQL + Redis, like the other
end-to-end test; skipped without them, or without dovecot)."""
import datetime
import os
import time

import pytest
from django.conf import settings
from django.utils import timezone

from lib.bounce_mailbox import BounceMailbox
from mailings import dispatch
from mailings.models import DeliveryStatus
from mailings.tests.test_deliverability import bounce_address, dsn, sent_deliveries
from mailings.tests.test_e2e_qcluster import Cluster, database_url, services_missing, wait_until
from mailings.tests.test_intake_imap import deliver, dovecot, in_folder  # noqa: F401  (dovecot: a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_the_worker_polls_the_bounce_mailbox_on_its_schedule(dovecot, alice, tmp_path):  # noqa: F811
    reason = services_missing()
    if reason:
        pytest.skip(reason)
    mailbox = BounceMailbox(host=dovecot.host, port=dovecot.port, user=dovecot.user, password=dovecot.password,
                            security="none", timeout=10)
    bounced, other = sent_deliveries(alice)
    deliver(mailbox, dsn(bounced.email, bounce_address(bounced)))
    settings.BOUNCE_MAILBOX = mailbox
    dispatch.ensure_bounce_poll_schedule(now=timezone.now() - datetime.timedelta(minutes=2))  # due at once
    env = {
        **os.environ,
        "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "BOUNCE_IMAP_HOST": dovecot.host, "BOUNCE_IMAP_PORT": str(dovecot.port), "BOUNCE_IMAP_USER": dovecot.user,
        "BOUNCE_IMAP_PASSWORD": dovecot.password, "BOUNCE_IMAP_SECURITY": "none",
        "Q_WORKERS": "1", "LOG_LEVEL": "INFO", "DEBUG": "0",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    cluster = Cluster("bounces", env, tmp_path).start()
    try:
        # django-q2's scheduler looks at its schedules about every 30 s.
        wait_until(lambda: (bounced.refresh_from_db() or bounced.status) == DeliveryStatus.BOUNCED,
                   time.monotonic() + 120, "the scheduled poll to handle the bounce")
    finally:
        cluster.stop()
    assert in_folder(mailbox, "INBOX") == []
    other.refresh_from_db()
    assert other.status == DeliveryStatus.SENT
    assert "bounce mailbox: 1 handled (1 changed a delivery)" in cluster.text()
