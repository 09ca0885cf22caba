"""Content forgets the home page figures when mailings says its figures changed.

Mailings never imports content: it sends ``mailings.signals.figures_changed`` after the
changes it writes with ``QuerySet.update()`` (no model signals), and content listens.
"""
import pytest
from django.urls import reverse
from django.utils import timezone

from content.tests import factories
from mailings.models import Mailing, MailingStatus
from mailings.signals import figures_changed
from mailings.views import unsubscribe_client

pytestmark = pytest.mark.django_db


def active_mailings(client):
    return client.get(reverse("home")).context["stats"]["active_mailings"]


def test_the_signal_makes_the_home_page_count_again(client, alice):
    factories.mailing(alice)
    assert active_mailings(client) == 0
    Mailing.objects.update(status=MailingStatus.RUNNING)  # no model signal: still cached
    assert active_mailings(client) == 0
    figures_changed.send(sender=Mailing, mailing_id=None)
    assert active_mailings(client) == 1


def test_an_unsubscription_sends_the_signal(client, alice):
    subscriber = factories.client(alice, "one@example.com")
    factories.mailing(alice, [subscriber])
    assert active_mailings(client) == 0
    Mailing.objects.update(status=MailingStatus.RUNNING)
    unsubscribe_client(subscriber, now=timezone.now())
    assert active_mailings(client) == 1
