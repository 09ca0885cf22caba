"""Who a run reaches (mailings.audience): lists ∪ clients or all clients, each address once,
unsubscribed and suppressed addresses recorded as skipped with the reason."""
import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from mailings import audience
from mailings.delivery import loop
from mailings.runs import claim
from mailings.models import (
    Client, ClientList, Delivery, DeliveryStatus, Mailing, Message, Suppression, SuppressionReason,
)
from mailings.rendering import unsubscribe_token

pytestmark = pytest.mark.django_db


def client(owner, email, **extra):
    return Client.objects.create(owner=owner, email=Client.normalize_email(email), **extra)


def new_list(owner, name, members=()):
    client_list = ClientList.objects.create(owner=owner, name=name)
    client_list.clients.add(*members)
    return client_list


def mailing_for(owner, *, lists=(), clients=(), all_clients=False):
    message = Message.objects.create(owner=owner, subject="Hi", body="<p>Hi</p>")
    now = timezone.now()
    mailing = Mailing.objects.create(
        owner=owner, message=message, start_at=now, next_run_at=now, all_clients=all_clients, name="Spring sale"
    )
    mailing.lists.set(lists)
    mailing.clients.set(clients)
    return mailing


def run(mailing):
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now())
    assert attempt is not None
    return attempt


def rows(attempt):
    return {
        (d.email, d.status, d.skip_reason)
        for d in Delivery.objects.filter(attempt=attempt)
    }


def test_a_run_reaches_the_union_of_lists_and_clients_each_address_once(alice):
    ann, bob_, cid, dan = (client(alice, f"{n}@example.org") for n in ("ann", "bob", "cid", "dan"))
    client(alice, "eve@example.org")  # in no list: not mailed
    first, second = new_list(alice, "A", [ann, bob_]), new_list(alice, "B", [bob_, cid])
    mailing = mailing_for(alice, lists=[first, second], clients=[ann, dan])

    attempt = run(mailing)

    assert rows(attempt) == {(f"{n}@example.org", "pending", "") for n in ("ann", "bob", "cid", "dan")}
    assert attempt.recipients == 4
    assert audience.reach_count(mailing) == 4


def test_an_address_in_another_case_is_one_recipient(alice):
    ann = client(alice, "Ann@Example.ORG")
    mailing = mailing_for(alice, lists=[new_list(alice, "A", [ann])], clients=[ann])
    # The import and the form store the address normalised: the file's "ANN@example.org" is Ann.
    assert Client.objects.filter(owner=alice, email__iexact="ANN@example.org").count() == 1

    attempt = run(mailing)

    assert rows(attempt) == {("ann@example.org", "pending", "")}


def test_a_list_that_grew_after_the_mailing_was_saved_is_mailed_in_full(alice):
    client_list = new_list(alice, "A", [client(alice, "ann@example.org")])
    mailing = mailing_for(alice, lists=[client_list])
    client_list.clients.add(client(alice, "bob@example.org"))

    assert {email for email, _s, _r in rows(run(mailing))} == {"ann@example.org", "bob@example.org"}


def test_all_clients_reaches_every_client_of_the_owner_only(alice, bob):
    client(alice, "ann@example.org")
    client(alice, "cid@example.org")
    client(bob, "bobs@example.org")
    mailing = mailing_for(alice, all_clients=True)

    assert {email for email, _s, _r in rows(run(mailing))} == {"ann@example.org", "cid@example.org"}


def test_someone_elses_client_in_a_list_is_never_mailed(alice, bob):
    foreign = client(bob, "bobs@example.org")
    client_list = new_list(alice, "A", [client(alice, "ann@example.org")])
    client_list.clients.add(foreign)  # written around the forms (shell, raw SQL)

    assert {email for email, _s, _r in rows(run(mailing_for(alice, lists=[client_list])))} == {"ann@example.org"}


def test_unsubscribed_and_suppressed_are_skipped_with_their_reason(alice, bob):
    ann = client(alice, "ann@example.org", unsubscribed_at=timezone.now())
    bounced = client(alice, "Bounced@example.org")
    kept = client(alice, "kept@example.org")
    Suppression.objects.create(owner=alice, email="bounced@example.org", reason=SuppressionReason.BOUNCED)
    Suppression.objects.create(owner=bob, email="kept@example.org", reason=SuppressionReason.MANUAL)  # bob's, not alice's
    mailing = mailing_for(alice, lists=[new_list(alice, "A", [ann, bounced, kept])])

    attempt = run(mailing)

    assert rows(attempt) == {
        ("ann@example.org", "skipped", "unsubscribed"),
        ("bounced@example.org", "skipped", "bounced"),
        ("kept@example.org", "pending", ""),
    }
    assert audience.reach_count(mailing) == 1


def test_unsubscribing_suppresses_the_address_so_a_reimport_does_not_resurrect_it(alice):
    ann = client(alice, "ann@example.org")
    HttpClient().post(reverse("unsubscribe", args=[unsubscribe_token(ann.pk)]))
    assert Suppression.objects.get(owner=alice).reason == SuppressionReason.UNSUBSCRIBED

    ann.delete()
    again = client(alice, "ann@example.org")  # imported again, as a brand-new client
    attempt = run(mailing_for(alice, clients=[again]))

    assert rows(attempt) == {("ann@example.org", "skipped", "unsubscribed")}


def test_unsubscribing_twice_keeps_one_suppression(alice):
    ann = client(alice, "ann@example.org")
    url = reverse("unsubscribe", args=[unsubscribe_token(ann.pk)])
    HttpClient().post(url)
    HttpClient().post(url)

    assert Suppression.objects.filter(owner=alice).count() == 1


def test_skipped_recipients_are_never_sent(alice, smtp_server, settings):
    settings.MAILING_CONNECT_BACKOFF = 0
    Suppression.objects.create(owner=alice, email="gone@example.org", reason=SuppressionReason.COMPLAINED)
    members = [client(alice, "gone@example.org"), client(alice, "here@example.org")]
    attempt = run(mailing_for(alice, lists=[new_list(alice, "A", members)]))

    loop.deliver(attempt, sleep=lambda s: None)

    assert [m.rcpt_tos for m in smtp_server.messages] == [["here@example.org"]]
    assert Delivery.objects.get(attempt=attempt, email="gone@example.org").status == DeliveryStatus.SKIPPED


def test_the_demo_data_has_lists_a_suppression_and_a_subscription_form():
    from django.core.management import call_command

    call_command("load_demo")

    regulars = ClientList.objects.get(name="Постоянные покупатели")
    assert regulars.clients.count() == 3
    assert ClientList.objects.filter(subscription_enabled=True).exists()
    assert Suppression.objects.filter(reason=SuppressionReason.BOUNCED).exists()
    assert HttpClient().get(reverse("subscribe", args=["demo-news-Zr8pW4"])).status_code == 200
