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
    AttemptKind, AttemptStatus, Client, ClientList, Delivery, DeliveryStatus, Mailing, Message, Suppression,
    SuppressionReason,
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


def test_a_retry_skips_addresses_unsubscribed_or_suppressed_since_the_first_run(alice):
    ann, bob, cid, dan = (client(alice, f"{name}@example.org") for name in ("ann", "bob", "cid", "dan"))
    mailing = mailing_for(alice, clients=[ann, bob, cid, dan])
    first = run(mailing)
    Delivery.objects.filter(attempt=first).update(status=DeliveryStatus.FAILED)
    Delivery.objects.filter(attempt=first, email="dan@example.org").update(status=DeliveryStatus.SENT)
    first.status = AttemptStatus.FAILURE
    first.save(update_fields=["status"])
    Client.objects.filter(pk=bob.pk).update(unsubscribed_at=timezone.now())
    Suppression.objects.create(owner=alice, email="CID@example.org", reason=SuppressionReason.COMPLAINED)

    retry = claim.claim_extra_run(
        mailing_id=mailing.pk, kind=AttemptKind.RETRY, scheduled_for=timezone.now(), now=timezone.now(),
        retried_id=first.pk,
    )

    assert rows(retry) == {
        ("ann@example.org", DeliveryStatus.PENDING, ""),
        ("bob@example.org", DeliveryStatus.SKIPPED, SuppressionReason.UNSUBSCRIBED),
        ("cid@example.org", DeliveryStatus.SKIPPED, SuppressionReason.COMPLAINED),
    }
    assert retry.recipients == 3


def test_the_report_and_the_run_page_list_skipped_recipients_with_their_reason(alice, client, english):
    ann, bob, cid = (Client.objects.create(owner=alice, email=f"{n}@example.org") for n in ("ann", "bob", "cid"))
    Client.objects.filter(pk=bob.pk).update(unsubscribed_at=timezone.now())
    Suppression.objects.create(owner=alice, email="cid@example.org", reason=SuppressionReason.BOUNCED)
    mailing = mailing_for(alice, clients=[ann, bob, cid])
    attempt = run(mailing)
    client.force_login(alice, backend="backoffice.backends.EmailBackend")

    report = client.get(reverse("admin:mailings_mailing_report", args=[mailing.pk]))
    page = client.get(reverse("admin:mailings_attempt_change", args=[attempt.pk]))

    skipped = report.context["report"]["skipped"]["rows"]
    assert sorted((row["email"], str(row["skip_reason_label"])) for row in skipped) == [
        ("bob@example.org", "unsubscribed"), ("cid@example.org", "bounced"),
    ]
    assert "<td>cid@example.org</td><td>skipped: bounced</td>" in page.content.decode()
    assert "<td>bob@example.org</td><td>skipped: unsubscribed</td>" in page.content.decode()
    assert "skipped (unsubscribed" not in page.content.decode()
    html = report.content.decode()
    table = html[html.index('id="report-skipped"'):]
    assert "cid@example.org" in table and ">bounced<" in table


def test_the_reach_endpoint_counts_an_unsaved_choice_of_the_owners_lists_and_clients(alice, bob, client, english):
    ann, bob_c, cid = (Client.objects.create(owner=alice, email=f"{n}@example.org") for n in ("ann", "bob", "cid"))
    Client.objects.filter(pk=bob_c.pk).update(unsubscribed_at=timezone.now())
    news = new_list(alice, "News", [ann, bob_c])
    foreign = Client.objects.create(owner=bob, email="zed@example.org")
    foreign_list = new_list(bob, "Bob's", [foreign])
    client.force_login(alice, backend="backoffice.backends.EmailBackend")
    url = reverse("admin:mailings_mailing_reach")

    def reach(**params):
        response = client.get(url, params)
        assert response.status_code == 200
        return response.json()

    assert reach(lists=[news.pk], clients=[cid.pk]) == {
        "count": 2, "text": "Would reach now: 2 people (unsubscribed and suppressed addresses not counted)"}
    assert reach(lists=[foreign_list.pk], clients=[foreign.pk])["count"] == 0
    assert reach()["count"] == 0
    assert reach(all_clients="1")["count"] == 2
    assert reach(lists=["x", news.pk])["count"] == 1
    assert "backoffice/mailing-reach.js" in client.get(reverse("admin:mailings_mailing_add")).content.decode()
