"""Duplicating a mailing: a disabled copy with the same message, clients and schedule (issue #13, item 15)."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mailings.models import Attempt, Mailing, MailingStatus
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db


def duplicate_url(mailing):
    return reverse("admin:mailings_mailing_duplicate_mailing_detail", args=[mailing.pk])


def test_the_copy_is_disabled_and_keeps_message_clients_and_schedule(client, alice, sync_queue):
    original = make_mailing(alice, 3, start_at=timezone.now() - timedelta(minutes=5), periodicity="weekly",
                            status=MailingStatus.RUNNING, next_run_at=timezone.now() + timedelta(days=6))
    client.force_login(alice)
    assert "Копия будет отключена" in client.get(duplicate_url(original)).content.decode()

    response = client.post(duplicate_url(original))

    copy = Mailing.objects.exclude(pk=original.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:mailings_mailing_change", args=[copy.pk])
    assert (copy.owner, copy.message, copy.start_at, copy.periodicity) == (
        original.owner, original.message, original.start_at, original.periodicity)
    assert set(copy.clients.all()) == set(original.clients.all())
    assert (copy.is_enabled, copy.disabled_by, copy.status) == (False, alice, MailingStatus.CREATED)
    assert not Mailing.objects.active().filter(pk=copy.pk).exists()
    assert not Attempt.objects.filter(mailing=copy).exists()  # a copy never sends on its own
    page = client.get(response["Location"]).content.decode()
    assert "Это копия рассылки №%d" % original.pk in page


def test_someone_elses_mailing_is_not_copied(client, alice, bob, manager):
    original = make_mailing(alice, 1)
    client.force_login(bob)
    # The action's permission check finds no mailing of Bob's: refused like every button.
    assert client.post(duplicate_url(original)).status_code == 403
    client.force_login(manager)
    assert client.post(duplicate_url(original)).status_code == 403
    assert Mailing.objects.count() == 1
