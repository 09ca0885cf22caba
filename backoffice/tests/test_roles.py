import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db


def perms(group_name):
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_migrate_creates_the_three_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Users", "Managers", "Content managers"}


def test_users_manage_their_mailing_data_and_only_view_statistics():
    granted = perms("Users")
    for model in ("client", "message", "mailing"):
        assert {f"mailings.{a}_{model}" for a in ("add", "change", "delete", "view")} <= granted
    assert {"mailings.view_attempt", "mailings.view_delivery"} <= granted
    assert not {p for p in granted if p.startswith(("content.", "backoffice."))}
    assert "mailings.change_attempt" not in granted


def test_managers_only_view_and_may_disable_mailings_and_block_users():
    granted = perms("Managers")
    assert {"mailings.view_mailing", "mailings.disable_mailing", "backoffice.view_user", "backoffice.block_user"} <= granted
    assert not {p for p in granted if p.split(".")[1].startswith(("add_", "change_", "delete_"))}


def test_content_managers_only_manage_posts():
    assert perms("Content managers") == {
        "content.add_post", "content.change_post", "content.delete_post", "content.view_post",
    }


@pytest.mark.django_db(transaction=True)
def test_the_groups_come_back_after_a_flush():
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    assert perms("Content managers") == {
        "content.add_post", "content.change_post", "content.delete_post", "content.view_post",
    }
    # add/change/delete/view of client, message, mailing, client list and suppression; view of
    # attempt and delivery (lists and suppression came with audiences, issue #11)
    assert len(perms("Users")) == 22
