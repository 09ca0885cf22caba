"""The mailing page's progress follows the mailing's newest run (issue #13, item 3)."""
import pytest
from django.urls import reverse
from django.utils import timezone

from mailings.models import Attempt, AttemptKind
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db


def test_the_mailing_progress_is_its_newest_run_and_its_owners_only(client, alice, bob):
    mailing = make_mailing(alice, 1)
    url = reverse("admin:mailings_attempt_mailing_progress", args=[mailing.pk])
    client.force_login(alice)
    assert client.get(url).json() == {"id": 0, "running": False}
    run = Attempt.objects.create(mailing=mailing, scheduled_for=timezone.now(), recipients=1)
    Attempt.objects.create(mailing=mailing, kind=AttemptKind.TEST, scheduled_for=timezone.now())
    figures = client.get(url).json()
    assert (figures["id"], figures["running"], figures["skipped"]) == (run.pk, True, 0)
    client.force_login(bob)
    assert client.get(url).status_code == 404
