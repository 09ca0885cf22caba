"""Admin buttons and displays of the sending engine, with ownership enforced on the server."""
import datetime
import re

import pytest
from lib.dates import local_datetime
from django.urls import reverse
from django.utils import timezone

from mailings import services
from mailings.delivery import loop
from mailings.models import Attempt, AttemptKind, Mailing
from mailings.runs import claim
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db


def logged_in(client, user):
    client.force_login(user, backend="backoffice.backends.EmailBackend")
    return client


def action_url(mailing, name):
    return reverse("admin:mailings_mailing_changelist") + f"{mailing.pk}/{name}/"


@pytest.fixture
def future_mailing(alice):
    mailing = make_mailing(alice, 3, start_at=timezone.now() + datetime.timedelta(days=2))
    services.mailing_saved(mailing=mailing)
    return mailing


def test_the_change_page_shows_the_buttons_and_the_next_run(client, alice, future_mailing):
    response = logged_in(client, alice).get(reverse("admin:mailings_mailing_change", args=[future_mailing.pk]))

    assert response.status_code == 200
    for name in ("send-now", "send-test", "retry-failed"):
        assert action_url(future_mailing, name).encode() in response.content
    assert local_datetime(future_mailing.next_run_at).encode() in response.content


def confirmation_form(browser, url):
    """What the confirmation page's form posts: the identity of the run it names."""
    page = browser.get(url)
    assert page.status_code == 200
    return {"run": re.search(r'name="run" value="([^"]+)"', page.content.decode()).group(1)}


def test_send_now_asks_then_sends(client, alice, future_mailing, smtp_server, sync_queue, django_capture_on_commit_callbacks):
    browser = logged_in(client, alice)
    form = confirmation_form(browser, action_url(future_mailing, "send-now"))
    assert smtp_server.messages == []

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(action_url(future_mailing, "send-now"), form)

    assert response.status_code == 302
    assert len(smtp_server.messages) == 3
    future_mailing.refresh_from_db()
    assert future_mailing.status == "completed"  # the one run was pulled forward, not doubled


def test_send_a_test_to_me_goes_to_the_person_asking(client, alice, future_mailing, smtp_server, sync_queue,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        logged_in(client, alice).post(action_url(future_mailing, "send-test"))

    assert smtp_server.recipients() == ["alice@example.com"]
    assert Attempt.objects.get(mailing=future_mailing).kind == AttemptKind.TEST


def test_retry_failed_recipients_button(client, alice, smtp_server, sync_queue, django_capture_on_commit_callbacks):
    smtp_server.behaviour.reject_rcpt = {"c00001@example.org": "550 No such user"}
    mailing = make_mailing(alice, 2)
    services.mailing_saved(mailing=mailing)
    loop.deliver(claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now()))
    smtp_server.reset()

    browser = logged_in(client, alice)
    form = confirmation_form(browser, action_url(mailing, "retry-failed"))
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(action_url(mailing, "retry-failed"), form)

    assert smtp_server.recipients() == ["c00001@example.org"]


@pytest.mark.parametrize("name", ["send-now", "send-test", "retry-failed"])
def test_someone_elses_mailing_cannot_be_sent(client, bob, future_mailing, smtp_server, name, sync_queue,
                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in(client, bob).post(action_url(future_mailing, name))

    # Refused by the action's permission check, the same for an unknown and a hidden mailing.
    assert response.status_code == 403
    assert smtp_server.messages == [] and not Attempt.objects.exists()


@pytest.mark.parametrize("name", ["send-now", "send-test", "retry-failed"])
def test_a_manager_oversees_but_does_not_send(client, manager, future_mailing, smtp_server, name, sync_queue,
                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in(client, manager).post(action_url(future_mailing, name))

    assert response.status_code == 403
    assert smtp_server.messages == []


def test_the_attempt_page_shows_progress_and_each_delivery_with_the_servers_reply(client, alice, smtp_server):
    smtp_server.behaviour.reject_rcpt = {"c00002@example.org": "550 5.1.1 Mailbox unavailable"}
    mailing = make_mailing(alice, 3)
    services.mailing_saved(mailing=mailing)
    attempt = loop.deliver(claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now()))

    response = logged_in(client, alice).get(reverse("admin:mailings_attempt_change", args=[attempt.pk]))

    assert response.status_code == 200
    assert b"5.1.1 Mailbox unavailable" in response.content
    assert b"Message accepted for delivery" in response.content
    assert b"<progress" in response.content


def test_live_progress_is_served_as_json_to_its_owner_only(client, alice, bob, smtp_server):
    mailing = make_mailing(alice, 2)
    services.mailing_saved(mailing=mailing)
    attempt = loop.deliver(claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now()))
    url = reverse("admin:mailings_attempt_progress", args=[attempt.pk])

    figures = logged_in(client, alice).get(url).json()
    assert (figures["sent"], figures["total"], figures["running"]) == (2, 2, False)
    client.logout()
    assert logged_in(client, bob).get(url).status_code == 404


def test_saving_in_the_admin_schedules_the_mailing(alice, rf):
    from django.contrib.admin.sites import site

    mailing = make_mailing(alice, 1, start_at=timezone.now() + datetime.timedelta(hours=3))
    Mailing.objects.filter(pk=mailing.pk).update(next_run_at=None)  # unscheduled, bypassing signals
    mailing.refresh_from_db()
    assert mailing.next_run_at is None
    model_admin = site._registry[Mailing]
    request = rf.post("/")
    request.user = alice
    form = model_admin.get_form(request, mailing)(instance=mailing)
    form.save_m2m = lambda: None

    model_admin.save_model(request, mailing, form, change=True)
    model_admin.save_related(request, form, formsets=[], change=True)

    mailing.refresh_from_db()
    assert mailing.next_run_at == mailing.start_at


@pytest.mark.parametrize("object_id", ["abc", "999999", "1%2Fchange"])
def test_a_malformed_or_unknown_mailing_id_never_answers_500(client, alice, object_id):
    response = logged_in(client, alice).post(reverse("admin:mailings_mailing_changelist") + f"{object_id}/send-now/")

    # Refused by the action's permission check, the same for an unknown and a hidden mailing.
    assert response.status_code == 403
