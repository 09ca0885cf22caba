"""Pausing a running mailing and resuming it, distinct from disabling (issue #13, item 15).

A paused run stops at its next batch like a disabled one; resuming continues it where it
stopped, each recipient once; while paused nothing starts and the mailing is not active.
"""
import pytest
from django.urls import reverse
from django.utils import timezone

from mailings import dispatch, services
from mailings.delivery import loop
from mailings.models import AttemptStatus, Delivery, DeliveryStatus, Mailing
from mailings.runs import claim
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db


def test_a_paused_run_stops_at_its_next_batch_and_resumes_where_it_stopped(
        alice, smtp_server, settings, sync_queue, django_capture_on_commit_callbacks):
    settings.MAILING_BATCH_SIZE = 2
    mailing = make_mailing(alice, 5)
    services.mailing_saved(mailing=mailing)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now())

    def pause_once(counts):
        if not Mailing.objects.get(pk=mailing.pk).paused_at and len(smtp_server.messages) == 1:
            services.pause_mailing(mailing=mailing, actor=alice)

    attempt = loop.deliver(attempt, progress=pause_once)

    assert len(smtp_server.messages) == 2  # the batch in hand is finished, no new one starts
    assert attempt.status == AttemptStatus.PAUSED
    assert Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.PENDING).count() == 3
    mailing.refresh_from_db()
    assert mailing.is_enabled  # paused, not disabled
    assert not Mailing.objects.active().filter(pk=mailing.pk).exists()
    assert not dispatch.resumable_attempts(timezone.now()).filter(pk=attempt.pk).exists()
    assert "alice@example.com" in mailing.held_reason()

    with django_capture_on_commit_callbacks(execute=True):
        services.resume_mailing(mailing=mailing)  # queues the continuation (sync here)

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCESS
    assert sorted(smtp_server.recipients()) == [f"c{i:05d}@example.org" for i in range(5)]


def test_the_owner_pauses_and_resumes_from_the_mailing_page(client, alice, manager):
    mailing = make_mailing(alice, 1, status="running")
    pause = reverse("admin:mailings_mailing_pause_mailing_detail", args=[mailing.pk])
    resume = reverse("admin:mailings_mailing_resume_mailing_detail", args=[mailing.pk])
    client.force_login(manager)
    assert client.post(pause).status_code == 403
    client.force_login(alice)
    assert "Приостановить рассылку" in client.get(pause).content.decode()
    client.post(pause)
    mailing.refresh_from_db()
    assert (mailing.paused_by, mailing.is_enabled) == (alice, True)
    page = client.get(reverse("admin:mailings_mailing_change", args=[mailing.pk])).content.decode()
    assert "приостановлена" in page and "Приостановлена пользователем alice@example.com" in page
    client.post(resume)
    mailing.refresh_from_db()
    assert mailing.paused_at is None
