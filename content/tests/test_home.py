"""The home page: figures, three random posts, links, and its cache."""
import pytest
from django.core.cache import cache as shared_cache
from django.urls import reverse

from backoffice.accounts import service as accounts_service
from content import cache
from content.tests import factories
from mailings.models import Mailing, MailingStatus

pytestmark = pytest.mark.django_db


def figures(client):
    return client.get(reverse("home")).context["stats"]


def test_the_home_page_links_to_registration_and_login(client):
    page = client.get(reverse("home")).content.decode()
    assert reverse("register") in page
    assert reverse("login") in page


def test_the_site_is_russian_by_default(client):
    assert '<html lang="ru">' in client.get(reverse("home")).content.decode()


def test_the_figures_count_mailings_active_ones_and_unique_addresses(client, alice, bob, manager):
    a1 = factories.client(alice, "one@example.com")
    a2 = factories.client(alice, "two@example.com")
    b1 = factories.client(bob, "ONE@Example.com")  # same person as a1, another owner
    factories.client(bob, "lonely@example.com")  # in no mailing: not a recipient
    factories.mailing(alice, [a1, a2], status=MailingStatus.RUNNING)
    factories.mailing(bob, [b1], status=MailingStatus.RUNNING)
    factories.mailing(alice, [a1], status=MailingStatus.CREATED)
    factories.mailing(alice, [a2], status=MailingStatus.COMPLETED)
    factories.mailing(bob, [b1], status=MailingStatus.RUNNING, is_enabled=False)

    assert figures(client) == {"mailings": 5, "active_mailings": 2, "unique_clients": 2}


def test_mailings_of_a_blocked_user_are_not_active(client, alice, manager):
    factories.mailing(alice, status=MailingStatus.RUNNING)
    assert figures(client)["active_mailings"] == 1
    accounts_service.block_user(user=alice, actor=manager)
    assert figures(client)["active_mailings"] == 0


def test_a_cache_hit_runs_no_sql_query(client, alice, django_assert_num_queries):
    factories.mailing(alice, [factories.client(alice, "x@example.com")])
    for number in range(5):
        factories.post(title=f"Статья {number}")
    client.get(reverse("home"))  # fills the cache

    with django_assert_num_queries(0):
        response = client.get(reverse("home"))

    assert response.context["stats"]["mailings"] == 1
    assert len(response.context["posts"]) == 3


def test_the_three_posts_are_random_published_ones(client):
    published = {factories.post(title=f"Статья {n}").pk for n in range(6)}
    factories.post(title="Черновик", published=False)
    seen = set()
    for _ in range(30):
        posts = client.get(reverse("home")).context["posts"]
        assert len(posts) == 3 and len({p["id"] for p in posts}) == 3
        seen.update(p["id"] for p in posts)
    assert seen <= published
    assert len(seen) > 3  # they vary between requests, cached or not


def test_saving_a_mailing_or_client_shows_up_at_once(client, alice):
    assert figures(client)["mailings"] == 0
    mailing = factories.mailing(alice, [factories.client(alice, "a@example.com")])
    assert figures(client) == {"mailings": 1, "active_mailings": 0, "unique_clients": 1}

    mailing.status = MailingStatus.RUNNING
    mailing.save()
    assert figures(client)["active_mailings"] == 1

    mailing.clients.add(factories.client(alice, "b@example.com"))
    assert figures(client)["unique_clients"] == 2
    mailing.clients.clear()
    assert figures(client)["unique_clients"] == 0

    mailing.delete()
    assert figures(client)["mailings"] == 0


def test_a_bulk_update_shows_up_once_invalidated(client, alice):
    factories.mailing(alice, status=MailingStatus.CREATED)
    assert figures(client)["active_mailings"] == 0

    Mailing.objects.update(status=MailingStatus.RUNNING)  # sends no signal
    assert figures(client)["active_mailings"] == 0  # still the cached figure

    cache.invalidate_home_stats()
    assert figures(client)["active_mailings"] == 1


def test_invalidation_leaves_other_cache_entries_alone(client, alice):
    shared_cache.set("someone-else", "kept")
    client.get(reverse("home"))
    factories.mailing(alice)
    factories.post()
    assert shared_cache.get("someone-else") == "kept"


def test_a_login_does_not_invalidate_the_figures(client, alice, django_assert_num_queries):
    client.get(reverse("home"))
    alice.save(update_fields=["last_login"])
    with django_assert_num_queries(0):
        client.get(reverse("home"))


def test_without_the_page_cache_every_request_computes(client, settings, alice):
    settings.PAGE_CACHE = False
    client.get(reverse("home"))
    factories.mailing(alice)
    Mailing.objects.update(status=MailingStatus.RUNNING)
    assert figures(client)["active_mailings"] == 1


def test_a_real_run_of_a_mailing_updates_the_cached_figures(client, alice, smtp_server):
    """The sending engine changes statuses with QuerySet.update() and then invalidates."""
    from django.core.management import call_command

    from mailings import services

    mailing = factories.mailing(
        alice, [factories.client(alice, "reader@example.org")], periodicity="once"
    )
    services.mailing_saved(mailing=mailing)  # as the admin does after saving
    assert figures(client)["active_mailings"] == 1  # created with its run ahead: now cached

    call_command("run_mailing_sending", "--mailing", str(mailing.pk))

    assert smtp_server.wait_for(1)
    mailing.refresh_from_db()
    assert mailing.status == MailingStatus.COMPLETED  # its one run is done
    assert figures(client)["active_mailings"] == 0
