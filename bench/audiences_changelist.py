"""The client changelist and "create a mailing for the selection" at N clients (issue #11);
run through ``bench/audiences.py --only changelist`` (see its docstring)."""
import statistics
import time

from audiences_common import OWNER, clean_up, generate_clients, timed

LOADS = 20  # loads of each changelist page; the p95 is over these
REFERENCE_LOADS = 5  # a plain OFFSET through a million rows takes seconds: fewer loads


def percentile_95(times):
    """The 95th percentile of 20 loads or more; the slowest of fewer."""
    return statistics.quantiles(times, n=20)[-1] if len(times) >= 20 else max(times)


def _browser(user):
    from django.test import Client as HttpClient

    browser = HttpClient()
    browser.force_login(user, backend="backoffice.backends.EmailBackend")
    return browser


def _load_times(func, loads):
    times = []
    for _ in range(loads):
        started = time.perf_counter()
        result = func()
        times.append((time.perf_counter() - started) * 1000)
        assert getattr(result, "status_code", 200) == 200, result
    return times


def _changelist(user, query):
    """The admin's ChangeList of the client changelist at ``query``, as the page builds it."""
    from django.contrib import admin
    from django.test import RequestFactory
    from django.urls import reverse

    from mailings.models import Client

    request = RequestFactory().get(f"{reverse('admin:mailings_client_changelist')}?{query}")
    request.user = user
    return admin.site._registry[Client].get_changelist_instance(request)


def measure_changelist(owner, tenth, everyone):
    """p95 of the client changelist (no filter; filtered by a list of N/10 and by one of N),
    page 1, the page before the last, the last page and a middle one, each beside two
    references measured in the same run: the plain OFFSET query of the same page's rows
    (what Django's own paginator runs) and the same page of an owner with 60 clients (the
    rendering cost of 50 rows on this machine now, whatever N)."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from backoffice.models import User
    from mailings.models import Client

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Client.lists.through._meta.db_table}")
        cursor.execute(f"ANALYZE {Client._meta.db_table}")
    User.objects.filter(email="small-" + OWNER).delete()  # left by an interrupted run
    small_owner = User.objects.create_user(email="small-" + OWNER, password=None, is_staff=True,
                                           email_verified_at=owner.email_verified_at)
    from django.contrib.auth.models import Group

    small_owner.groups.add(Group.objects.get(name="Users"))
    Client.objects.bulk_create([Client(owner=small_owner, email=f"s{i}@example.com", full_name=f"Клиент {i}")
                                for i in range(60)])
    browser, small_browser = _browser(owner), _browser(small_owner)
    url = reverse("admin:mailings_client_changelist")
    small_page = _load_times(lambda: small_browser.get(url), LOADS)
    print(f"reference, changelist of an owner with 60 clients, page 1: p95 {percentile_95(small_page):.0f} ms, "
          f"median {statistics.median(small_page):.0f} ms", flush=True)
    try:
        for label, query in [("no filter", ""), (f"list of {tenth.clients.count():,}", f"list={tenth.pk}"),
                             (f"list of {everyone.clients.count():,}", f"list={everyone.pk}")]:
            first = _changelist(owner, query)
            pages = first.paginator.num_pages
            print(f"changelist, {label}: count shown {first.result_count} "
                  f"(true {first.queryset.count():,}), {pages:,} pages of {first.list_per_page}", flush=True)
            for page_label, number in [("page 1", 1), ("late page", pages - 1), ("last page", pages),
                                       ("middle page", pages // 2)]:
                page_url = f"{url}?{query}&p={number}"
                with CaptureQueriesContext(connection) as captured:
                    browser.get(page_url)
                # Counted now: the capture reads the connection's log when asked, and each later
                # request starts by emptying that log (it printed 0 when counted after the loads).
                queries = len(captured)
                cl = _changelist(owner, f"{query}&p={number}")
                times = _load_times(lambda: browser.get(page_url), LOADS if page_label != "middle page" else 5)
                rows = cl.queryset  # the same filtered, ordered queryset; Django would slice it
                bottom = (number - 1) * cl.list_per_page
                plain = _load_times(lambda: list(rows[bottom:bottom + cl.list_per_page]), REFERENCE_LOADS)
                print(f"   {page_label} (p={number:,}): p95 {percentile_95(times):.0f} ms, median "
                      f"{statistics.median(times):.0f} ms, {queries} queries"
                      f"   (reference, plain OFFSET {bottom:,} query of the same rows: median "
                      f"{statistics.median(plain):.0f} ms, max {max(plain):.0f} ms)", flush=True)
    finally:
        Client.objects.filter(owner=small_owner).delete()
        small_owner.delete()


def measure_create_mailing(owner):
    """ "Create a mailing for them" on "select all N matching" (no filter: the owner's N
    clients): the request (it queues the list's filling), then the worker's job run here
    with the very arguments the request queued; Python's peak allocation during the job
    shows whether memory stays flat. Reference: a plain INSERT … SELECT of the same ids."""
    import tracemalloc

    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.db import connection
    from django.urls import reverse

    from mailings import dispatch, lists
    from mailings.models import Client, ClientList

    queued = []
    real_enqueue = dispatch.enqueue
    dispatch.enqueue = lambda func, *args: queued.append((func, args))
    try:
        some = Client.objects.filter(owner=owner).order_by("pk").values_list("pk", flat=True)[:1]
        started = time.perf_counter()
        response = _browser(owner).post(reverse("admin:mailings_client_changelist"), {
            "action": "create_mailing", "index": 0, "select_across": "1", ACTION_CHECKBOX_NAME: list(some),
            "new_list": "Bench: a mailing for everyone",
        })
        request_ms = (time.perf_counter() - started) * 1000
    finally:
        dispatch.enqueue = real_enqueue
    new = ClientList.objects.get(owner=owner, name="Bench: a mailing for everyone")
    assert response.status_code == 302, response.status_code
    if not queued:  # at most IN_BACKGROUND_ABOVE clients: filled in the request
        print(f"create a mailing for all matching: the request {request_ms:.0f} ms, the list filled in it "
              f"({new.clients.count():,} members), answers {response['Location']}", flush=True)
        return
    print(f"create a mailing for all matching: the request {request_ms:.0f} ms (queues the list's filling, "
          f"answers {response['Location']})", flush=True)
    func, args = queued[0]
    assert func == lists.FILL_TASK
    tracemalloc.start()
    started = time.perf_counter()
    added = lists.fill_list(*args)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 1024 / 1024
    tracemalloc.stop()
    reference_list = ClientList.objects.create(owner=owner, name="Bench: plain INSERT … SELECT")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Client.lists.through._meta.db_table} (client_id, clientlist_id) "
            f"SELECT id, %s FROM {Client._meta.db_table} WHERE owner_id = %s", [reference_list.pk, owner.pk],
        )
    reference = time.perf_counter() - started
    print(f"   the worker's job (lists.fill_list): {added:,} clients joined in {elapsed:.1f} s, Python peak "
          f"allocation {peak:.1f} MB   (reference, plain INSERT … SELECT of the same ids: {reference:.1f} s)",
          flush=True)
    print(f"   the list's page then shows: {lists.fill_progress(new)}", flush=True)
    assert added == Client.objects.filter(owner=owner).count()


def make_lists_for_the_changelist(owner):
    """Ten lists of N/10 (list k: the owner's clients with id % 10 == k) and one of all N."""
    from django.db import connection

    from mailings.models import Client, ClientList

    members, client_table = Client.lists.through._meta.db_table, Client._meta.db_table
    with connection.cursor() as cursor:
        for k in range(10):
            tenth = ClientList.objects.create(owner=owner, name=f"Tenth {k}")
            cursor.execute(f"INSERT INTO {members} (client_id, clientlist_id) SELECT id, %s FROM {client_table} "
                           "WHERE owner_id = %s AND id %% 10 = %s", [tenth.pk, owner.pk, k])
        everyone = ClientList.objects.create(owner=owner, name="All, plain SQL")
        cursor.execute(f"INSERT INTO {members} (client_id, clientlist_id) SELECT id, %s FROM {client_table} "
                       "WHERE owner_id = %s", [everyone.pk, owner.pk])
        cursor.execute(f"VACUUM ANALYZE {members}")


def run_changelist_only(n, keep):
    """``--only changelist``: the owner's N generated clients in ten lists (kept from an
    earlier ``--keep`` run when they are there), then the changelist and the bulk action."""
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.utils import timezone

    from backoffice.models import User
    from mailings.models import Client, ClientList

    assert connection.vendor == "postgresql", "--only changelist generates its clients in PostgreSQL"
    owner = User.objects.filter(email=OWNER).first()
    if owner is None or Client.objects.filter(owner=owner).count() != n:
        clean_up([owner.pk] if owner else [0])
        owner = User.objects.create_user(email=OWNER, password="bench-pass-2026-x", is_staff=True,
                                         email_verified_at=timezone.now())
        owner.groups.add(Group.objects.get(name="Users"))
        timed(f"generate {n:,} clients (INSERT … SELECT generate_series)", lambda: generate_clients(owner, n, 0))
        timed("ten lists of N/10 and one of N (INSERT … SELECT)", lambda: make_lists_for_the_changelist(owner))
    else:
        print(f"reusing the {n:,} clients kept by an earlier run", flush=True)
    ClientList.objects.filter(owner=owner, name__startswith="Bench: ").delete()
    try:
        measure_changelist(owner, ClientList.objects.get(owner=owner, name="Tenth 1"),
                           ClientList.objects.get(owner=owner, name="All, plain SQL"))
        measure_create_mailing(owner)
    finally:
        ClientList.objects.filter(owner=owner, name__startswith="Bench: ").delete()
        if not keep:
            clean_up([owner.pk])
