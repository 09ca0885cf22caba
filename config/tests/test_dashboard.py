"""The admin start page: each role sees the figures it may see, in a constant number of queries."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailings.statistics import queries as stats
from mailings.models import Delivery
from mailings.models import DeliveryStatus as S
from mailings.tests.factories import add_deliveries, direct_counts, make_attempt, make_mailing

pytestmark = pytest.mark.django_db


def open_dashboard(client, user):
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response


def rows_of(owner=None):
    deliveries = Delivery.objects.exclude(attempt__kind="test").filter(
        attempt__started_at__gte=timezone.now() - timedelta(days=20)
    )
    return list(deliveries.filter(attempt__mailing__owner=owner) if owner else deliveries)


def test_a_user_sees_their_own_figures_on_the_page(client, outcomes, alice):
    response = open_dashboard(client, alice)
    page = response.content.decode()
    expected = direct_counts(rows_of(alice))
    assert response.context["stats"]["totals"] == expected
    for key in ("sent", "failed", "unknown"):
        assert f'data-figure="{key}">{expected[key]}<' in page
    assert 'data-mailings="created">2<' in page
    assert 'id="dashboard"' in page and 'data-scope="own"' in page
    assert "Alice newsletter" in page  # next run
    assert "5.1.1 User unknown" in page  # last failures with the server's reply
    assert "Connection refused three times" in page  # her own mailing, paused
    assert "Bob" not in page  # neither Bob's mailing, nor his bounces, nor his address


def test_a_user_never_sees_another_users_figures(client, outcomes, bob):
    response = open_dashboard(client, bob)
    page = response.content.decode()
    assert response.context["stats"]["totals"] == direct_counts(rows_of(bob))
    assert "Alice" not in page and "5.1.1 User unknown" not in page
    assert "Most active users" not in page and "Connection refused three times" not in page


@pytest.mark.parametrize("role", ["manager", "superuser"])
def test_managers_and_superusers_see_everyone(client, outcomes, role, request, alice, bob):
    response = open_dashboard(client, request.getfixturevalue(role))
    page = response.content.decode()
    assert response.context["stats"]["totals"] == direct_counts(rows_of())
    assert 'data-scope="all"' in page
    assert alice.email in page and bob.email in page  # most active users
    assert "Connection refused three times" in page  # paused by mail-server trouble
    assert "Bob&#x27;s bounce" in page and "5.1.1 User unknown" in page


def test_a_content_manager_gets_a_dashboard_without_mailing_statistics(client, outcomes, content_manager):
    response = open_dashboard(client, content_manager)
    assert response.context["stats"] is None
    page = response.content.decode()
    assert 'id="dashboard"' not in page and "User unknown" not in page


def test_the_chart_carries_thirty_days_of_sent_and_failed(client, outcomes, alice):
    response = open_dashboard(client, alice)
    import json

    chart = json.loads(response.context["stats"]["daily_chart"])
    assert len(chart["labels"]) == 30
    sent, failed, unknown = (dataset["data"] for dataset in chart["datasets"])
    assert (sum(sent), sum(failed), sum(unknown)) == (5, 4, 1)
    assert 'class="chart"' in response.content.decode()


def add_load(owner, mailings, runs, per_status):
    for index in range(mailings):
        mailing = make_mailing(owner, 0, subject=f"Load {index}", next_run_at=timezone.now() + timedelta(hours=index + 1))
        for offset in range(runs):
            run = make_attempt(mailing, timezone.now() - timedelta(days=offset, minutes=index))
            for status in (S.SENT, S.FAILED, S.UNKNOWN, S.DEFERRED):
                add_deliveries(run, status, per_status, sent_at=run.started_at, smtp_code=550,
                               smtp_response="no")
        stats.invalidate_for_mailing(mailing.pk)


def count_queries(client):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:index")).status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", ["alice", "manager"])
def test_the_dashboard_needs_the_same_queries_for_little_and_much_data(
    client, alice, bob, role, request, django_assert_max_num_queries
):
    user = request.getfixturevalue(role)
    client.force_login(user)
    add_load(alice, mailings=1, runs=1, per_status=1)
    small = count_queries(client)
    add_load(alice, mailings=12, runs=4, per_status=6)
    add_load(bob, mailings=3, runs=2, per_status=5)
    large = count_queries(client)  # cold again: the runs invalidated the cache
    assert large == small
    with django_assert_max_num_queries(small):
        client.get(reverse("admin:index"))


def statistics_queries(client):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:index")).status_code == 200
    return [q["sql"] for q in queries if "mailings_" in q["sql"]]


@pytest.mark.parametrize("role", ["alice", "manager"])
def test_a_warm_dashboard_runs_no_statistics_query(client, outcomes, role, request):
    client.force_login(request.getfixturevalue(role))
    assert len(statistics_queries(client)) >= 4  # cold
    assert statistics_queries(client) == []  # warm
