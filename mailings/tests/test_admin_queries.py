"""Changelists run a constant number of queries however many rows there are."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailings.models import Attempt, Client, Mailing, Message

pytestmark = pytest.mark.django_db

MAX_QUERIES = 20


def add_clients(owner, count, start=0):
    Client.objects.bulk_create(
        [Client(owner=owner, email=f"c{i}@example.com", full_name=f"Client {i}") for i in range(start, start + count)]
    )


def add_mailings(owner, count):
    message = Message.objects.create(owner=owner, subject="S", body="<p>b</p>")
    client = Client.objects.create(owner=owner, email=f"m{Mailing.objects.count()}@example.net")
    now = timezone.now()
    mailings = Mailing.objects.bulk_create(
        [Mailing(owner=owner, message=message, start_at=now) for _ in range(count)]
    )
    Mailing.clients.through.objects.bulk_create(
        [Mailing.clients.through(mailing=m, client=client) for m in mailings]
    )
    Attempt.objects.bulk_create(
        [Attempt(mailing=m, scheduled_for=now, finished_at=now, status="success", sent=1) for m in mailings]
    )


def queries_for(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("viewer", ["alice", "manager"])
def test_the_client_changelist_does_not_grow_with_rows(client, request, alice, viewer):
    client.force_login(request.getfixturevalue(viewer))
    url = reverse("admin:mailings_client_changelist")
    add_clients(alice, 3)
    few = queries_for(client, url)
    add_clients(alice, 10_000, start=3)
    many = queries_for(client, url)
    assert many == few <= MAX_QUERIES


@pytest.mark.parametrize("viewer", ["alice", "manager"])
def test_the_mailing_changelist_does_not_grow_with_rows(client, request, alice, viewer, django_assert_max_num_queries):
    client.force_login(request.getfixturevalue(viewer))
    url = reverse("admin:mailings_mailing_changelist")
    add_mailings(alice, 3)
    few = queries_for(client, url)
    add_mailings(alice, 10_000)
    with django_assert_max_num_queries(few):
        client.get(url)
    assert few <= MAX_QUERIES


def test_the_attempt_changelist_does_not_grow_with_rows(client, alice, manager):
    client.force_login(manager)
    url = reverse("admin:mailings_attempt_changelist")
    add_mailings(alice, 3)
    few = queries_for(client, url)
    add_mailings(alice, 2_000)
    assert queries_for(client, url) == few <= MAX_QUERIES
