"""The one lookup of "a mailing this user may see" (OwnedQuerySet.visible_one)."""
import pytest

from mailings.models import Mailing
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db


def test_an_owner_sees_their_mailing_and_not_anothers(alice, bob):
    mailing = make_mailing(alice, 1)
    assert Mailing.objects.visible_one(alice, mailing.pk) == mailing
    assert Mailing.objects.visible_one(bob, mailing.pk) is None


def test_a_manager_and_a_superuser_see_everyones_mailing(alice, manager, superuser):
    mailing = make_mailing(alice, 1)
    assert Mailing.objects.visible_one(manager, mailing.pk) == mailing
    assert Mailing.objects.visible_one(superuser, str(mailing.pk)) == mailing


@pytest.mark.parametrize("pk", ["abc", "1 OR 1=1", "", None, "-1", "999999"])
def test_a_malformed_or_unknown_id_finds_nothing(alice, pk):
    make_mailing(alice, 1)
    assert Mailing.objects.visible_one(alice, pk) is None


def test_the_admin_pages_find_another_users_mailing_nowhere(client, alice, bob):
    mailing = make_mailing(alice, 1)
    client.force_login(bob, backend="backoffice.backends.EmailBackend")
    for url in (f"/admin/mailings/mailing/{mailing.pk}/report/", f"/admin/mailings/mailing/{mailing.pk}/report/export/csv/"):
        assert client.get(url).status_code == 404
