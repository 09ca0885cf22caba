"""The client changelist at scale: every page holds the rows a plain OFFSET gives (late pages
are read backwards from the end), a page costs the same number of queries at 30 and 300
clients, an estimated count says so, and "create a mailing" for "all N matching" runs in
the worker for the owner's clients only."""
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from mailings import lists
from mailings.admin.base import EstimatedCountPaginator
from mailings.admin.clients import ClientAdmin
from mailings.admin.lists import mailing_form_url
from mailings.models import Client, ClientList, Mailing

pytestmark = pytest.mark.django_db

PER_PAGE = 10
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the estimated count is PostgreSQL's planner estimate; SQLite counts exactly",
)


def changelist_url(query=""):
    return reverse("admin:mailings_client_changelist") + query


def login(client, user):
    client.force_login(user, backend="backoffice.backends.EmailBackend")


def add_clients(owner, count, client_list=None, start=0):
    """``count`` clients with repeated names and some unsubscribed (ties and NULLs to order)."""
    now = timezone.now()
    made = Client.objects.bulk_create([
        Client(owner=owner, email=f"c{i:04d}@{'example.org' if i % 3 else 'example.net'}",
               full_name=f"Name {i % 7}", unsubscribed_at=now if i % 4 == 0 else None)
        for i in range(start, start + count)
    ])
    if client_list is not None:
        made = list(Client.objects.filter(owner=owner, email__in=[c.email for c in made]))
        client_list.clients.add(*[c for c in made if int(c.email[1:5]) % 5])
    return made


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(ClientAdmin, "list_per_page", PER_PAGE)


@pytest.fixture
def members(alice, bob):
    client_list = ClientList.objects.create(owner=alice, name="Members")
    add_clients(alice, 95, client_list)
    add_clients(bob, 20)  # someone else's: never on Alice's pages
    return client_list


@pytest.mark.parametrize("query", [
    "?list={list}", "?list={list}&q=example.org", "?q=example.org", "?list={list}&o=3", "?list={list}&o=-3",
    "?list={list}&o=2.-4",
])
def test_every_page_holds_the_rows_of_a_plain_offset_query(client, alice, members, small_pages, query):
    login(client, alice)
    url = changelist_url(query.format(list=members.pk))
    last = client.get(url).context["cl"].paginator.num_pages
    assert last >= 5

    for number in sorted({1, 2, last // 2, last - 1, last}):
        with CaptureQueriesContext(connection) as captured:
            cl = client.get(f"{url}&p={number}").context["cl"]
        plain = list(cl.queryset[(number - 1) * PER_PAGE:number * PER_PAGE])
        assert list(cl.result_list) == plain and plain, number
        if number > last // 2 + 1:  # read backwards: no OFFSET through the rows before it
            assert not any(f"OFFSET {(number - 1) * PER_PAGE}" in q["sql"] for q in captured), number


def test_the_pages_together_are_the_whole_filtered_list_once(client, alice, members, small_pages):
    login(client, alice)
    url = changelist_url(f"?list={members.pk}&q=example.org")
    cl = client.get(url).context["cl"]
    seen = []
    for number in range(1, cl.paginator.num_pages + 1):
        seen += list(client.get(f"{url}&p={number}").context["cl"].result_list)
    assert seen == list(cl.queryset)
    assert all(c.owner_id == alice.pk for c in seen)


def queries_of_pages(client, url):
    """The queries of page 1 and of the last page."""
    last = client.get(url).context["cl"].paginator.num_pages
    counts, sql = [], []
    for number in (1, last):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"{url}&p={number}").status_code == 200
        counts.append(len(captured))
        sql += [q["sql"] for q in captured]
    return counts, sql


def test_a_page_costs_the_same_queries_at_30_and_300_clients(client, alice, small_pages):
    client_list = ClientList.objects.create(owner=alice, name="Members")
    login(client, alice)
    url = changelist_url(f"?list={client_list.pk}")
    add_clients(alice, 38, client_list)  # 30 in the list
    few, _sql = queries_of_pages(client, url)
    add_clients(alice, 337, client_list, start=38)  # 300 in the list
    many, _sql = queries_of_pages(client, url)
    assert few == many


@on_postgresql
def test_above_the_exact_limit_nothing_counts_the_whole_filtered_set(client, alice, small_pages, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_UP_TO", 20)
    client_list = ClientList.objects.create(owner=alice, name="Members")
    login(client, alice)
    url = changelist_url(f"?list={client_list.pk}")
    add_clients(alice, 38, client_list)
    few, _sql = queries_of_pages(client, url)
    add_clients(alice, 337, client_list, start=38)
    many, sql = queries_of_pages(client, url)

    counts = [q for q in sql if "COUNT(" in q.upper()]
    assert counts and all("LIMIT 21" in q for q in counts), counts
    assert few == many


@on_postgresql
def test_an_estimated_count_is_labelled_and_the_last_page_is_the_true_end(client, alice, small_pages, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_UP_TO", 20)
    client_list = ClientList.objects.create(owner=alice, name="Members")
    add_clients(alice, 100, client_list)
    login(client, alice)
    url = changelist_url(f"?list={client_list.pk}")

    page = client.get(url)
    cl = page.context["cl"]
    last = client.get(f"{url}&p={cl.paginator.num_pages}").context["cl"]

    assert f"≈ {cl.result_count:d}" in page.content.decode()  # footer, header and "select all"
    ordered = list(cl.queryset)
    assert list(last.result_list) == ordered[-len(last.result_list):]


def test_an_exact_count_is_not_labelled(client, alice, members):
    login(client, alice)
    page = client.get(changelist_url(f"?list={members.pk}")).content.decode()
    assert "≈" not in page


# --- "Create a mailing for them" on "all N matching" -------------------------------------

def act(client, action, query="", selected=(), select_across=False, **extra):
    data = {"action": action, "index": 0, "select_across": "1" if select_across else "0",
            ACTION_CHECKBOX_NAME: [c.pk for c in selected], **extra}
    return client.post(changelist_url(query), data)


@pytest.fixture
def large(monkeypatch, sync_queue):
    """Five clients count as a large selection (the worker's path), filled two ids at a time."""
    monkeypatch.setattr(lists, "IN_BACKGROUND_ABOVE", 3)
    monkeypatch.setattr(lists, "ID_RANGE", 2)


def test_a_mailing_for_all_matching_fills_its_list_in_the_worker_with_the_owner_s_clients_only(
    client, alice, bob, large, english,
):
    alices = [Client.objects.create(owner=alice, email=f"a{i}@example.org") for i in range(5)]
    Client.objects.create(owner=alice, email="other@example.net")  # not matching the search
    bobs = Client.objects.create(owner=bob, email="b@example.org")
    login(client, alice)

    response = act(client, "create_mailing", query="?q=example.org", selected=[bobs], select_across=True,
                   new_list="Everyone at example.org")

    new = ClientList.objects.get(owner=alice, name="Everyone at example.org")
    assert set(new.clients.all()) == set(alices)
    assert not bobs.lists.exists()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:mailings_clientlist_change", args=[new.pk])
    page = client.get(response["Location"]).content.decode()
    assert "Done: 5 clients added." in page and escape(mailing_form_url(new)) in page
    form = client.get(mailing_form_url(new)).content.decode()
    assert f'<option value="{new.pk}" selected>' in form
    assert not Mailing.objects.exists()  # the person saves it, once the list is complete


def test_while_the_list_fills_its_page_shows_the_progress_not_the_mailing_link(client, alice, english):
    client_list = ClientList.objects.create(owner=alice, name="Big")
    lists._set_progress(client_list.pk, {"state": "running", "added": 400_000, "percent": 40})
    login(client, alice)
    page = client.get(reverse("admin:mailings_clientlist_change", args=[client_list.pk])).content.decode()
    assert "40% done, 400000 clients added so far." in page
    assert escape(mailing_form_url(client_list)) not in page


def test_someone_else_s_clients_posted_make_no_list_and_no_mailing(client, alice, bob, english):
    bobs = [Client.objects.create(owner=bob, email=f"b{i}@example.org") for i in range(3)]
    login(client, alice)

    response = act(client, "create_mailing", selected=bobs, new_list="Stolen")

    assert response.status_code == 302
    assert not ClientList.objects.filter(name="Stolen").exists()
    assert not Client.lists.through.objects.exists()


def test_a_mailing_for_someone_else_s_list_is_refused(client, alice, bob, large):
    alices = [Client.objects.create(owner=alice, email=f"a{i}@example.org") for i in range(5)]
    bobs_list = ClientList.objects.create(owner=bob, name="Bob's")
    login(client, alice)

    response = act(client, "create_mailing", selected=alices, select_across=True, client_list=bobs_list.pk)

    assert response.status_code == 200  # asked again which list
    assert bobs_list.clients.count() == 0


def test_each_cell_is_labelled_with_its_column_on_every_row(client, alice, members, english):
    # The headers are built once per page (mailings.admin.base), not once per row.
    login(client, alice)
    page = client.get(changelist_url(f"?list={members.pk}")).content.decode()
    rows = len(client.get(changelist_url(f"?list={members.pk}")).context["cl"].result_list)
    for title in ("e-mail", "full name", "subscribed", "created at"):
        assert page.count(f'data-label="{title}"') == rows, title
