"""One definition of an active mailing ("will it send?"), the same everywhere (issue #13, item 4).

``Mailing.objects.active()`` and ``Mailing.held_reason()`` agree on every case; the home page,
the dashboard's upcoming runs and the mailing page follow them.
"""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.accounts import service as accounts_service
from mailings import services
from mailings.models import Mailing, MailingStatus
from mailings.runs import state
from mailings.statistics.home import home_figures
from mailings.statistics.queries import compute_dashboard
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db

SOON = timedelta(days=7)


def case(owner, status, next_run=True, **extra):
    domain = f"d{Mailing.objects.count()}.example.org"  # each mailing its own clients
    return make_mailing(owner, 1, status=status, next_run_at=timezone.now() + SOON if next_run else None,
                        domain=domain, **extra)


def test_active_and_held_reason_agree(alice, bob, manager):
    running = case(alice, MailingStatus.RUNNING)
    running_between_runs = case(alice, MailingStatus.RUNNING, next_run=False)  # a run going, none ahead
    created_ahead = case(alice, MailingStatus.CREATED)
    created_nothing_ahead = case(alice, MailingStatus.CREATED, next_run=False)
    completed = case(alice, MailingStatus.COMPLETED, next_run=False)
    disabled = case(alice, MailingStatus.RUNNING)
    services.disable_mailing(mailing=disabled, actor=manager)
    blocked_owners = case(bob, MailingStatus.RUNNING)
    accounts_service.block_user(user=bob, actor=manager)

    active = set(Mailing.objects.active())
    assert active == {running, running_between_runs, created_ahead}
    for mailing in Mailing.objects.select_related("owner", "disabled_by"):
        assert (mailing.held_reason() == "") == (mailing in active), mailing
    assert "заблокирован" in Mailing.objects.get(pk=blocked_owners.pk).held_reason()
    assert "bob@example.com" in Mailing.objects.get(pk=blocked_owners.pk).held_reason()
    assert "manager@example.com" in Mailing.objects.get(pk=disabled.pk).held_reason()
    assert Mailing.objects.get(pk=completed.pk).held_reason() == "Завершена: по расписанию запусков больше нет."
    assert Mailing.objects.get(pk=created_nothing_ahead.pk).held_reason() == "Запуск не запланирован."


def test_the_home_page_counts_the_mailings_that_will_send(alice, bob, manager):
    case(alice, MailingStatus.RUNNING)
    case(alice, MailingStatus.CREATED)  # its first run is ahead: it will send
    case(bob, MailingStatus.RUNNING)
    accounts_service.block_user(user=bob, actor=manager)
    assert home_figures()["active_mailings"] == 2


def test_upcoming_runs_leave_out_held_mailings(alice, bob, manager):
    alive = case(alice, MailingStatus.RUNNING)
    disabled = case(alice, MailingStatus.RUNNING)
    services.disable_mailing(mailing=disabled, actor=manager)
    case(bob, MailingStatus.RUNNING)
    accounts_service.block_user(user=bob, actor=manager)
    data = compute_dashboard(manager, timezone.now(), timezone.localdate(), sees_all=True)
    assert [row["pk"] for row in data["next_runs"]] == [alive.pk]


def test_the_mailing_page_says_the_blocked_owner_holds_it(client, bob, manager):
    mailing = case(bob, MailingStatus.RUNNING)
    accounts_service.block_user(user=bob, actor=manager)
    client.force_login(manager)
    page = client.get(reverse("admin:mailings_mailing_change", args=[mailing.pk])).content.decode()
    assert "владелец заблокирован" in page
    assert "Владелец bob@example.com заблокирован" in page


def test_every_display_names_the_same_hold_first(client, bob, manager):
    """Mailing.hold's order (the mailing's own switches before its owner's block) everywhere:
    the held reason, the admin's state and next run, and the stop of a going run."""
    mailing = case(bob, MailingStatus.RUNNING)
    services.pause_mailing(mailing=mailing, actor=bob)
    accounts_service.block_user(user=bob, actor=manager)
    mailing = Mailing.objects.select_related("owner").get(pk=mailing.pk)
    assert mailing.hold() == Mailing.PAUSED
    assert mailing.held_reason().startswith("Приостановлена пользователем bob@example.com")
    assert state.stop_reason(mailing.pk) == "рассылка приостановлена"
    client.force_login(manager)
    page = client.get(reverse("admin:mailings_mailing_change", args=[mailing.pk])).content.decode()
    assert "приостановлена" in page and "Приостановлена пользователем bob@example.com" in page
    assert "владелец заблокирован" not in page
