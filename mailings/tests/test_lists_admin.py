"""Client lists in the admin: owner scoping of every URL, action, autocomplete and import;
the bulk list actions (selection and "all matching") in SQL; filters; the suppression list."""
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mailings.models import Client, ClientList, Mailing, Suppression, SuppressionReason

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:mailings_client_changelist"


def login(client, user):
    client.force_login(user, backend="backoffice.backends.EmailBackend")


@pytest.fixture
def alices(alice):
    clients = [Client.objects.create(owner=alice, email=f"a{i}@example.org") for i in range(5)]
    return ClientList.objects.create(owner=alice, name="Alice's"), clients


@pytest.fixture
def bobs(bob):
    return ClientList.objects.create(owner=bob, name="Bob's"), Client.objects.create(owner=bob, email="b@example.org")


def act(client, action, query="", selected=(), select_across=False, **extra):
    data = {"action": action, "index": 0, "select_across": "1" if select_across else "0",
            ACTION_CHECKBOX_NAME: [c.pk for c in selected], **extra}
    return client.post(reverse(CHANGELIST) + query, data)


@pytest.mark.parametrize("view", ["change", "delete", "history", "export_members"])
def test_someone_elses_list_is_not_found_at_every_url(client, alice, bobs, view):
    login(client, alice)
    name = {"export_members": "mailings_clientlist_export_members"}.get(view, f"mailings_clientlist_{view}")
    assert client.get(reverse(f"admin:{name}", args=[bobs[0].pk])).status_code == 404


def test_the_list_changelist_shows_only_ones_own(client, alice, alices, bobs):
    login(client, alice)
    page = client.get(reverse("admin:mailings_clientlist_changelist")).content.decode()
    assert "Alice&#x27;s" in page and "Bob&#x27;s" not in page


def test_a_manager_sees_lists_but_cannot_change_them(client, manager, alices):
    login(client, manager)
    url = reverse("admin:mailings_clientlist_change", args=[alices[0].pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"name": "Renamed"}).status_code == 403
    assert ClientList.objects.get(pk=alices[0].pk).name == "Alice's"


def test_a_manager_cannot_run_the_list_actions(client, manager, alices):
    client_list, members = alices
    login(client, manager)
    act(client, "add_to_list", selected=members, client_list=client_list.pk)
    assert client_list.clients.count() == 0


def test_the_action_asks_which_list_then_adds_the_selection(client, alice, alices):
    client_list, members = alices
    login(client, alice)
    page = act(client, "add_to_list", selected=members[:2])
    assert page.status_code == 200 and b'name="client_list"' in page.content

    act(client, "add_to_list", selected=members[:2], client_list=client_list.pk)

    assert set(client_list.clients.all()) == set(members[:2])


def test_select_all_matching_the_filter_adds_every_match_across_pages(client, alice, alices):
    client_list, members = alices
    Client.objects.create(owner=alice, email="other@elsewhere.net")
    login(client, alice)

    act(client, "add_to_list", query="?q=example.org", selected=members[:1], select_across=True,
        new_list="Everyone at example.org")

    new = ClientList.objects.get(owner=alice, name="Everyone at example.org")
    assert set(new.clients.all()) == set(members)


def test_adding_someone_else_s_list_is_refused(client, alice, alices, bobs):
    login(client, alice)
    page = act(client, "add_to_list", selected=alices[1], client_list=bobs[0].pk)
    assert page.status_code == 200  # asked again, with the error
    assert bobs[0].clients.count() == 0


def test_a_superuser_adds_only_the_list_owner_s_clients(client, superuser, alice, bobs):
    Client.objects.create(owner=alice, email="a@example.org")
    own = ClientList.objects.create(owner=superuser, name="Mine")
    login(client, superuser)
    act(client, "add_to_list", select_across=True, selected=[bobs[1]], client_list=own.pk)
    assert own.clients.count() == 0


def test_remove_from_list(client, alice, alices):
    client_list, members = alices
    client_list.clients.add(*members)
    login(client, alice)
    act(client, "remove_from_list", selected=members[:3], client_list=client_list.pk)
    assert set(client_list.clients.all()) == set(members[3:])


def test_create_a_mailing_makes_a_list_and_opens_the_mailing_form_with_it(client, alice, alices):
    _list, members = alices
    login(client, alice)
    response = act(client, "create_mailing", selected=members[:2], new_list="Selection")

    new = ClientList.objects.get(owner=alice, name="Selection")
    assert set(new.clients.all()) == set(members[:2])
    assert response.status_code == 302 and f"lists={new.pk}" in response["Location"]
    form = client.get(response["Location"]).content.decode()
    assert f'<option value="{new.pk}" selected>' in form


def test_filters_by_list_and_by_suppression(client, alice, alices):
    client_list, members = alices
    client_list.clients.add(members[0])
    Suppression.objects.create(owner=alice, email=members[1].email, reason=SuppressionReason.BOUNCED)
    login(client, alice)

    in_list = client.get(reverse(CHANGELIST) + f"?list={client_list.pk}").context["cl"].result_list
    suppressed = client.get(reverse(CHANGELIST) + "?suppressed=yes").context["cl"].result_list

    assert list(in_list) == [members[0]] and list(suppressed) == [members[1]]


def test_the_list_filter_of_someone_elses_list_shows_nothing(client, alice, alices, bobs):
    login(client, alice)
    bobs[0].clients.add(bobs[1])
    assert list(client.get(reverse(CHANGELIST) + f"?list={bobs[0].pk}").context["cl"].result_list) == []


def test_the_mailing_autocomplete_offers_only_the_owner_s_lists(client, alice, alices, bobs):
    login(client, alice)
    response = client.get(reverse("admin:autocomplete"), {
        "app_label": "mailings", "model_name": "mailing", "field_name": "lists", "term": "", "owner": bobs[0].owner_id,
    })
    assert [r["text"] for r in response.json()["results"]] == ["Alice's"]


def test_a_mailing_cannot_use_someone_elses_list(client, alice, bobs):
    from mailings.models import Message

    message = Message.objects.create(owner=alice, subject="S", body="<p>b</p>")
    login(client, alice)
    response = client.post(reverse("admin:mailings_mailing_add"), {
        "name": "x", "message": message.pk, "lists": [bobs[0].pk], "start_at_0": "2030-01-01", "start_at_1": "10:00",
        "periodicity": "once",
    })
    assert response.status_code == 200 and not Mailing.objects.exists()
    assert "Выбирайте только свои списки." in response.content.decode()


def test_import_into_a_new_list_adds_new_and_known_clients(client, alice):
    known = Client.objects.create(owner=alice, email="known@example.org")
    login(client, alice)
    client.post(reverse("admin:mailings_client_import"), {
        "import_file": SimpleUploadedFile("c.csv", b"email\nKnown@example.org\nnew@example.org\n"),
        "new_list": "Imported",
    })
    new = ClientList.objects.get(owner=alice, name="Imported")
    assert {c.email for c in new.clients.all()} == {"known@example.org", "new@example.org"}
    assert known in new.clients.all()


def test_import_into_someone_elses_list_is_refused(client, alice, bobs):
    login(client, alice)
    response = client.post(reverse("admin:mailings_client_import"), {
        "import_file": SimpleUploadedFile("c.csv", b"email\nnew@example.org\n"), "client_list": bobs[0].pk,
    })
    assert response.status_code == 200
    assert not Client.objects.filter(owner=alice).exists() and bobs[0].clients.count() == 0


def test_a_refused_import_leaves_no_new_list(client, alice):
    login(client, alice)
    client.post(reverse("admin:mailings_client_import"), {
        "import_file": SimpleUploadedFile("c.csv", b"email\n"), "new_list": "Ghost",
    })
    assert not ClientList.objects.filter(name="Ghost").exists()


def test_the_list_export_streams_its_members(client, alice, alices):
    client_list, members = alices
    client_list.clients.add(members[0])
    login(client, alice)
    response = client.get(reverse("admin:mailings_clientlist_export_members", args=[client_list.pk]))
    assert b"".join(response.streaming_content).decode().splitlines() == ["email,full_name,comment", "a0@example.org,,"]


def test_suppression_import_and_scoping(client, alice, bob, manager):
    Suppression.objects.create(owner=bob, email="x@example.org", reason=SuppressionReason.MANUAL)
    login(client, alice)
    client.post(reverse("admin:mailings_suppression_import"), {
        "import_file": SimpleUploadedFile("s.csv", b"email\nOld@Example.org\nnot-an-address\nx@example.org\n"),
        "reason": "bounced",
    })
    assert set(Suppression.objects.filter(owner=alice).values_list("email", "reason")) == {
        ("old@example.org", "bounced"), ("x@example.org", "bounced"),
    }
    bobs = Suppression.objects.get(owner=bob)
    assert client.get(reverse("admin:mailings_suppression_change", args=[bobs.pk])).status_code == 404
    login(client, manager)
    assert client.get(reverse("admin:mailings_suppression_changelist")).status_code == 200
    assert client.get(reverse("admin:mailings_suppression_import")).status_code == 403


def test_a_suppression_file_is_read_by_the_client_imports_address_rule(alice):
    # An address longer than the column (Django's validator alone lets up to 320 characters
    # through) is one invalid row, not a database error that loses the whole file.
    from mailings.audience import import_suppressions

    long_address = "a" * 250 + "@example.org"
    upload = SimpleUploadedFile("s.csv", f"email\nkept@example.org\n{long_address}\n".encode())
    assert import_suppressions(alice, upload, SuppressionReason.MANUAL) == (1, 1)
    assert list(Suppression.objects.filter(owner=alice).values_list("email", flat=True)) == ["kept@example.org"]


def test_adding_a_large_selection_runs_in_the_worker_with_progress_on_the_lists_page(
    client, alice, alices, sync_queue, monkeypatch, english,
):
    from mailings import lists

    monkeypatch.setattr(lists, "IN_BACKGROUND_ABOVE", 3)
    monkeypatch.setattr(lists, "ID_RANGE", 2)  # several batches
    client_list, members = alices
    Client.objects.create(owner=alice, email="other@example.net")  # not matching the search
    login(client, alice)

    response = act(client, "add_to_list", query="?q=example.org", selected=members[:1], select_across=True,
                   client_list=client_list.pk)

    assert response.status_code == 302
    assert set(client_list.clients.values_list("email", flat=True)) == {c.email for c in members}
    assert lists.fill_progress(client_list) == {"state": "done", "added": 5, "percent": 100}
    page = client.get(reverse("admin:mailings_clientlist_change", args=[client_list.pk])).content.decode()
    assert "Done: 5 clients added." in page


def test_a_selection_under_the_threshold_is_added_in_the_request(client, alice, alices, english):
    client_list, members = alices
    login(client, alice)
    response = act(client, "add_to_list", select_across=True, selected=members[:1], client_list=client_list.pk)
    assert client_list.clients.count() == 5
    assert [str(m) for m in response.wsgi_request._messages] == ["5 clients joined the list “Alice's”."]
