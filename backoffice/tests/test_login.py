import pytest
from django.urls import reverse

from backoffice.accounts import service as accounts_service
from backoffice.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, email, password=PASSWORD):
    return client.post(reverse("admin:login"), {"username": email, "password": password})


def test_it_logs_in_by_email_whatever_the_case(client, alice):
    response = login(client, "ALICE@Example.com")
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_it_refuses_a_wrong_password(client, alice):
    response = login(client, "alice@example.com", "wrong")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_it_refuses_an_unverified_account(client, alice):
    alice.email_verified_at = None
    alice.save()
    login(client, "alice@example.com")
    assert "_auth_user_id" not in client.session


def test_a_blocked_user_cannot_log_in(client, alice, manager):
    accounts_service.block_user(user=alice, actor=manager)
    login(client, "alice@example.com")
    assert "_auth_user_id" not in client.session


def test_blocking_ends_open_sessions_at_the_next_request(client, alice, manager):
    client.force_login(alice)
    assert client.get(reverse("admin:index")).status_code == 200
    accounts_service.block_user(user=alice, actor=manager)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_email_is_unique_whatever_the_case(django_user_model, alice):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        django_user_model.objects.create(email="Alice@EXAMPLE.com")


# --- Throttling behind the TLS proxy (issue #9, item 14) ------------------------------------

PROXY = "10.0.0.2"


def login_from(client, email, password, *, peer, forwarded_for=None):
    headers = {"REMOTE_ADDR": peer}
    if forwarded_for:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post(reverse("admin:login"), {"username": email, "password": password}, **headers)


@pytest.fixture
def behind_proxy(settings):
    settings.HTTPS = False  # the test client speaks plain HTTP; the proxy is what matters here
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]


def test_clients_behind_the_trusted_proxy_are_throttled_separately(client, alice, settings, behind_proxy):
    from django.test import Client

    for _ in range(settings.AXES_FAILURE_LIMIT):
        login_from(client, alice.email, "wrong", peer=PROXY, forwarded_for="203.0.113.5")
    attacker = login_from(client, alice.email, PASSWORD, peer=PROXY, forwarded_for="203.0.113.5")
    assert attacker.status_code == 429

    real_alice = login_from(Client(), alice.email, PASSWORD, peer=PROXY, forwarded_for="203.0.113.6")

    assert real_alice.status_code == 302


def test_a_client_that_is_not_the_proxy_cannot_spoof_x_forwarded_for(client, alice, settings, behind_proxy):
    from django.test import Client

    for attempt in range(settings.AXES_FAILURE_LIMIT):
        # A new forged address each time: it is ignored, the peer's own address counts.
        login_from(client, alice.email, "wrong", peer="198.51.100.7", forwarded_for=f"203.0.113.{attempt + 10}")
    spoofer = login_from(client, alice.email, PASSWORD, peer="198.51.100.7", forwarded_for="203.0.113.99")
    assert spoofer.status_code == 429

    # Nor did the spoofer lock out the address it forged.
    victim = login_from(Client(), alice.email, PASSWORD, peer=PROXY, forwarded_for="203.0.113.10")
    assert victim.status_code == 302


def test_only_the_hop_the_trusted_proxy_saw_counts(rf, behind_proxy):
    from backoffice.accounts.client_ip import client_ip

    def ip(peer, forwarded=""):
        return client_ip(rf.get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded))

    assert ip(PROXY, "1.2.3.4, 203.0.113.5") == "203.0.113.5"  # left part: the client's own words
    assert ip(PROXY, "203.0.113.5, 10.0.0.3") == "203.0.113.5"  # two trusted proxies in a row
    assert ip(PROXY, "") == PROXY
    assert ip(PROXY, "not-an-address") == PROXY
    assert ip("198.51.100.7", "203.0.113.5") == "198.51.100.7"
