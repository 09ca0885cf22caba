"""/unsubscribe/<token>/: a page with a button, RFC 8058 one-click POST, never a 500."""
import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from mailings import services
from mailings.delivery import loop
from mailings.models import Client, Delivery, DeliveryStatus
from mailings.rendering import unsubscribe_token
from mailings.runs import claim
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(alice):
    return Client.objects.create(owner=alice, email="carol@example.org", full_name="Carol")


def url_for(client):
    return reverse("unsubscribe", args=[unsubscribe_token(client.pk)])


def test_the_link_shows_a_confirmation_and_changes_nothing(carol):
    response = HttpClient().get(url_for(carol))

    assert response.status_code == 200
    assert b"carol@example.org" in response.content and b"<form" in response.content
    carol.refresh_from_db()
    assert carol.unsubscribed_at is None


def test_the_button_unsubscribes(carol):
    response = HttpClient().post(url_for(carol))

    assert response.status_code == 200
    carol.refresh_from_db()
    assert carol.unsubscribed_at is not None


def test_the_one_click_post_of_a_mail_client_works_without_a_csrf_token(carol):
    browser = HttpClient(enforce_csrf_checks=True)

    response = browser.post(url_for(carol), data="List-Unsubscribe=One-Click",
                            content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    carol.refresh_from_db()
    assert carol.unsubscribed_at is not None


def test_unsubscribing_twice_keeps_the_first_time(carol):
    HttpClient().post(url_for(carol))
    carol.refresh_from_db()
    first = carol.unsubscribed_at

    HttpClient().post(url_for(carol))

    carol.refresh_from_db()
    assert carol.unsubscribed_at == first


@pytest.mark.parametrize("token", ["nonsense", "1:forged-signature", "%00", "x" * 300, ":"])
def test_a_bad_token_answers_a_clear_404(carol, token):
    response = HttpClient().get(f"/unsubscribe/{token}/")

    assert response.status_code == 404
    assert "mailings/unsubscribe_invalid.html" in [t.name for t in response.templates]
    assert HttpClient().post(f"/unsubscribe/{token}/").status_code == 404
    carol.refresh_from_db()
    assert carol.unsubscribed_at is None


def test_a_token_for_a_deleted_client_answers_404(carol):
    url = url_for(carol)
    carol.delete()

    assert HttpClient().post(url).status_code == 404


def test_a_token_signed_for_another_purpose_is_refused(carol):
    from django.core import signing

    forged = signing.Signer(salt="something-else").sign(str(carol.pk))

    assert HttpClient().post(f"/unsubscribe/{forged}/").status_code == 404


def test_an_unsubscribed_client_gets_nothing_from_the_next_run(alice, smtp_server):
    mailing = make_mailing(alice, 2)
    leaver = mailing.clients.get(email="c00000@example.org")
    HttpClient().post(url_for(leaver))
    services.mailing_saved(mailing=mailing)

    attempt = loop.deliver(claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now()))

    assert smtp_server.recipients() == ["c00001@example.org"]
    assert Delivery.objects.get(attempt=attempt, client=leaver).status == DeliveryStatus.SKIPPED


def test_other_methods_are_refused_cleanly(carol):
    assert HttpClient().put(url_for(carol)).status_code == 405
