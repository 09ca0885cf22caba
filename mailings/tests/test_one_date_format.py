"""The mailing page and the sending code's texts show moments in the one format, in the user's
time zone (lib.dates.local_datetime; issue #13, item 11)."""
import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from lib.dates import local_datetime
from mailings.models import Attempt, AttemptStatus
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db


def test_the_mailing_page_shows_next_run_and_last_attempt_in_the_one_format(client, alice):
    next_run = timezone.now() + datetime.timedelta(days=3)
    mailing = make_mailing(alice, 1, next_run_at=next_run, status="running")
    finished = timezone.now() - datetime.timedelta(hours=2)
    Attempt.objects.create(mailing=mailing, scheduled_for=finished, finished_at=finished, status=AttemptStatus.SUCCESS)
    client.force_login(alice)
    page = client.get(reverse("admin:mailings_mailing_change", args=[mailing.pk])).content.decode()
    assert local_datetime(next_run) in page  # "3 декабря 2026 г. 13:05"
    assert local_datetime(finished) in page
    assert timezone.localtime(next_run).strftime("%Y-%m-%d %H:%M") not in page


def test_a_paused_mailing_says_until_when_in_the_one_format(client, alice):
    until = timezone.now() + datetime.timedelta(minutes=20)
    mailing = make_mailing(alice, 1, paused_until=until, pause_reason="server down", status="running")
    client.force_login(alice)
    page = client.get(reverse("admin:mailings_mailing_change", args=[mailing.pk])).content.decode()
    assert local_datetime(until) in page
