"""A list still being filled in the worker ("add all N matching", mailings.lists.fill_list) is
neither given a new mailing nor mailed: a run would reach only the part already added."""
import datetime
import time

import pytest
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone

from mailings import lists, tasks
from mailings.models import Attempt, Client, ClientList, Mailing, Message
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db
FILLING = "список «Alice's» ещё заполняется в фоне (готово 0%)"


@pytest.fixture
def filling(alice):
    """Alice's list, whose five clients are queued to join it in the worker (not yet run)."""
    for i in range(5):
        Client.objects.create(owner=alice, email=f"a{i}@example.org")
    client_list = ClientList.objects.create(owner=alice, name="Alice's")
    everyone = Client.objects.filter(owner=alice, email__endswith="@example.org")
    lists.add_to_list_in_background(everyone, client_list)
    return client_list, everyone


def worker_fills(client_list, clients):
    """What the worker does with the queued task."""
    lists.fill_list(client_list.pk, *lists._ids_sql(clients, client_list))


def mailing_form(client, message, client_list):
    return client.post(reverse("admin:mailings_mailing_add"), {
        "name": "x", "message": message.pk, "lists": [client_list.pk], "start_at_0": "2030-01-01",
        "start_at_1": "10:00", "periodicity": "once",
    })


def test_the_mailing_form_refuses_a_list_still_filling_and_takes_it_once_filled(client, alice, filling):
    client_list, everyone = filling
    message = Message.objects.create(owner=alice, subject="S", body="<p>b</p>")
    client.force_login(alice)

    response = mailing_form(client, message, client_list)

    assert response.status_code == 200 and not Mailing.objects.exists()
    assert response.context["adminform"].form.errors["lists"] == [
        f"Сейчас рассылку создать нельзя: {FILLING}. Создайте её, когда на странице списка появится «Готово»."]

    worker_fills(client_list, everyone)
    assert mailing_form(client, message, client_list).status_code == 302
    assert list(Mailing.objects.get().lists.all()) == [client_list]


def test_a_run_waits_for_its_filling_list_then_mails_all_of_it(alice, filling, smtp_server):
    client_list, everyone = filling
    mailing = make_mailing(alice, 1, domain="example.net")
    mailing.lists.set([client_list])

    assert tasks.run_mailing(mailing.pk) is None

    assert not Attempt.objects.exists() and smtp_server.messages == []
    mailing.refresh_from_db()
    assert mailing.pause_reason == f"Не запущена: {FILLING}"
    assert mailing.paused_until > timezone.now()

    worker_fills(client_list, everyone)
    Mailing.objects.filter(pk=mailing.pk).update(paused_until=timezone.now() - datetime.timedelta(seconds=1))
    tasks.run_mailing(mailing.pk)

    assert Attempt.objects.get(mailing=mailing).sent == 6
    assert sorted(smtp_server.recipients()) == [f"a{i}@example.org" for i in range(5)] + ["c00000@example.net"]


def test_a_mailing_to_all_clients_does_not_wait_for_a_list(alice, filling, smtp_server):
    client_list, _everyone = filling
    mailing = make_mailing(alice, 1, domain="example.net", all_clients=True)
    mailing.lists.set([client_list])

    tasks.run_mailing(mailing.pk)

    assert Attempt.objects.get(mailing=mailing).sent == 6


def test_a_fill_whose_worker_died_stops_holding_its_list(client, alice, filling, monkeypatch):
    """No progress for FILL_STALLED_AFTER: the fill's worker is gone. The list no longer
    holds mailings, and its page says how to finish the addition."""
    client_list, everyone = filling
    lists._set_progress(client_list.pk, {"state": "running", "added": 2, "percent": 40})
    assert lists.is_filling(client_list)

    later = time.time() + lists.FILL_STALLED_AFTER + 1
    monkeypatch.setattr(lists.time, "time", lambda: later)

    assert not lists.is_filling(client_list)
    client.force_login(alice)
    page = client.get(reverse("admin:mailings_clientlist_change", args=[client_list.pk])).content.decode()
    assert "Остановлено на 40%: обработчик остановился." in page


def test_a_fill_that_fails_stops_holding_its_list_at_once(client, alice, filling):
    """A fill whose statement fails (a dropped connection, a statement timeout) before its
    first progress no longer leaves the list "queued" — holding its mailings for the day the
    progress is kept; the list's page says it stopped and how to finish."""
    client_list, _everyone = filling
    with pytest.raises(DatabaseError):
        lists.fill_list(client_list.pk, "SELECT no_such_column AS member_id FROM mailings_client", [])

    assert not lists.is_filling(client_list)
    assert lists.fill_progress(client_list)["state"] == "stopped"


def test_a_refused_start_does_not_shorten_a_longer_pause(alice, filling):
    """A server's pause (421: a running run waits half an hour) outlasts the minute a run
    start waits for a filling list ("send now" of the next run meanwhile): that run's refusal
    neither brings the paused run's resume forward nor replaces its reason."""
    client_list, _everyone = filling
    mailing = make_mailing(alice, 1, domain="example.net")
    mailing.lists.set([client_list])
    server_pause = timezone.now() + datetime.timedelta(minutes=30)
    Mailing.objects.filter(pk=mailing.pk).update(paused_until=server_pause, pause_reason="421 try later")

    assert tasks.run_mailing(mailing.pk, expected=mailing.next_run_at.isoformat()) is None

    mailing.refresh_from_db()
    assert (mailing.paused_until, mailing.pause_reason) == (server_pause, "421 try later")


def test_the_sending_command_says_why_a_run_did_not_start(alice, filling, capsys):
    from django.core.management import call_command

    client_list, _everyone = filling
    mailing = make_mailing(alice, 1, domain="example.net")
    mailing.lists.set([client_list])

    call_command("run_mailing_sending", "--mailing", str(mailing.pk))

    assert capsys.readouterr().out.rstrip().endswith(f"Не запущена: {FILLING}")


def test_send_now_refused_for_a_filling_list_may_be_pressed_again_at_once(
        alice, filling, monkeypatch, django_capture_on_commit_callbacks):
    """The refused press started nothing: pressing again queues the run again (it said
    "already queued" for two minutes, while nothing was queued)."""
    from django_q.conf import Conf

    from mailings import services

    client_list, _everyone = filling
    mailing = make_mailing(alice, 1, domain="example.net", start_at=timezone.now() + datetime.timedelta(days=1))
    mailing.lists.set([client_list])
    mailing.refresh_from_db()
    monkeypatch.setattr(Conf, "SYNC", True)  # the worker runs the queued run inline

    with django_capture_on_commit_callbacks(execute=True):
        first = services.send_now(mailing=mailing)
    assert first.outcome == services.Press.QUEUED and not Attempt.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        again = services.send_now(mailing=mailing)
    assert again.outcome == services.Press.QUEUED


def test_a_fill_the_queue_did_not_take_does_not_hold_the_list(alice, monkeypatch):
    """The broker failing between the progress and the task (a dropped connection to Redis)
    leaves no "queued" progress holding the list's mailings for a day: no fill is coming."""
    client_list = ClientList.objects.create(owner=alice, name="Alice's")
    Client.objects.create(owner=alice, email="a@example.org")

    def broker_down(*args):
        raise ConnectionError("the broker went away")

    monkeypatch.setattr(lists.dispatch, "enqueue", broker_down)
    with pytest.raises(ConnectionError):
        lists.add_to_list_in_background(Client.objects.filter(owner=alice), client_list)

    assert not lists.is_filling(client_list)


def test_a_mailing_whose_list_started_filling_may_still_be_edited(client, alice):
    """The refusal is for a mailing made for (or given) a list still filling; one already to
    that list may be edited meanwhile (its run waits for the list anyway)."""
    for i in range(5):
        Client.objects.create(owner=alice, email=f"a{i}@example.org")
    client_list = ClientList.objects.create(owner=alice, name="Alice's")
    message = Message.objects.create(owner=alice, subject="S", body="<p>b</p>")
    client.force_login(alice)
    assert mailing_form(client, message, client_list).status_code == 302
    mailing = Mailing.objects.get()
    lists.add_to_list_in_background(Client.objects.filter(owner=alice), client_list)  # the fill starts after

    response = client.post(reverse("admin:mailings_mailing_change", args=[mailing.pk]), {
        "name": "renamed", "message": message.pk, "lists": [client_list.pk], "start_at_0": "2030-01-01",
        "start_at_1": "10:00", "periodicity": "once",
    })

    assert response.status_code == 302
    mailing.refresh_from_db()
    assert mailing.name == "renamed"
