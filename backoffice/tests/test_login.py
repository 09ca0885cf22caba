import pytest
from django.urls import reverse

from backoffice.accounts import service as accounts_service
from conftest import PASSWORD

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
