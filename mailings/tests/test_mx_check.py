"""The optional MX check (EMAIL_CHECK_MX, lib/mail_domain.py) on every path an address comes
in by: the client form, the import, public subscription, registration. Its DNS is a real
server on loopback; a refused address gets the Russian sentence naming its domain and
nothing is saved."""
import io
import time

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client as HttpClient
from django.urls import reverse

from lib import dns_check, mail_domain
from lib.testing.dns import LoopbackDNS
from mailings import subscriptions
from mailings.forms import ClientForm, SuppressionForm
from mailings.importing import import_clients
from mailings.models import Client, ClientList, Subscription, Suppression

pytestmark = pytest.mark.django_db

ZONE = {"mx.example.org": {"MX": [(10, "mail.mx.example.org")]}, "null-mx.example.org": {"MX": [(0, ".")]}}
REFUSED = "Домен null-mx.example.org не принимает почту."


@pytest.fixture
def dns(settings):
    settings.EMAIL_CHECK_MX = True
    settings.DNS_TIMEOUT = 0.5
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.MAIL_TRANSPORT_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with LoopbackDNS(ZONE) as server:
        settings.DNS_RESOLVER = server.address
        yield server


def client_form(owner, email):
    form_class = type("OwnedClientForm", (ClientForm,), {"owner": owner})
    return form_class(data={"email": email, "full_name": "", "comment": ""})


def test_the_client_form_refuses_a_domain_without_mail(dns, alice):
    form = client_form(alice, "ann@null-mx.example.org")
    assert not form.is_valid()
    assert form.errors["email"] == [REFUSED]
    assert not Client.objects.exists()


def test_the_client_form_takes_a_domain_with_mail(dns, alice):
    form = client_form(alice, "ann@mx.example.org")
    assert form.is_valid(), form.errors
    assert form.save().email == "ann@mx.example.org"


def test_the_import_refuses_the_rows_of_a_domain_without_mail_by_line_asking_once(dns, alice):
    text = (
        "email,full_name\n"
        "ann@mx.example.org,Ann\n"
        "ben@null-mx.example.org,Ben\n"
        "cid@mx.example.org,Cid\n"
        "dan@null-mx.example.org,Dan\n"
    )
    report = import_clients(owner=alice, file=io.BytesIO(text.encode()))
    assert [(error.line, error.message) for error in report.errors] == [(3, REFUSED), (5, REFUSED)]
    assert sorted(Client.objects.values_list("email", flat=True)) == ["ann@mx.example.org", "cid@mx.example.org"]
    assert dns.queries.count(("null-mx.example.org", "MX")) == 1
    assert dns.queries.count(("mx.example.org", "MX")) == 1


def test_with_the_check_off_the_import_asks_no_dns(dns, alice, settings):
    settings.EMAIL_CHECK_MX = False
    text = "email\nann@mx.example.org\nben@null-mx.example.org\n"
    report = import_clients(owner=alice, file=io.BytesIO(text.encode()))
    assert report.errors == []
    assert Client.objects.count() == 2
    assert dns.queries == []


def test_the_subscription_form_refuses_a_domain_without_mail(dns, alice):
    news = ClientList.objects.create(owner=alice, name="News", subscription_enabled=True)
    data = {"email": "ann@null-mx.example.org", "full_name": "Ann", "website": "",
            "stamp": subscriptions.form_stamp(time.time() - 10)}
    response = HttpClient(REMOTE_ADDR="203.0.113.5").post(reverse("subscribe", args=[news.subscription_token]), data)
    assert response.status_code == 400
    assert REFUSED in response.content.decode()
    assert not Subscription.objects.exists()
    assert mail.outbox == []


def test_registration_refuses_a_domain_without_mail(dns, client):
    password = "Plum-Orbit-47-Lantern"
    response = client.post(reverse("register"), {
        "email": "newbie@null-mx.example.org", "full_name": "Новичок", "password1": password, "password2": password,
    })
    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert not get_user_model().objects.filter(email="newbie@null-mx.example.org").exists()
    assert mail.outbox == []


def test_a_dead_address_can_still_be_suppressed(dns, alice):
    form = type("OwnedSuppressionForm", (SuppressionForm,), {"owner": alice})(
        data={"email": "ann@null-mx.example.org", "reason": "manual"})
    assert form.is_valid(), form.errors
    form.instance.owner = alice
    form.save()
    assert Suppression.objects.filter(owner=alice, email="ann@null-mx.example.org").exists()
    assert dns.queries == []


def test_the_admin_add_client_page_shows_the_refusal_and_saves_nothing(dns, alice, client):
    client.force_login(alice)
    response = client.post(
        reverse("admin:mailings_client_add"), {"email": "ann@null-mx.example.org", "full_name": "Ann", "comment": ""})
    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert not Client.objects.exists()


def test_the_admin_add_client_page_saves_the_client_on_a_machine_without_dns(settings, monkeypatch, tmp_path,
                                                                               alice, client):
    settings.EMAIL_CHECK_MX = True
    settings.DNS_RESOLVER = ""  # the system's resolver, whose /etc/resolv.conf is missing
    monkeypatch.setattr(dns_check, "SYSTEM_RESOLV_CONF", str(tmp_path / "missing"))
    monkeypatch.setattr(mail_domain, "_resolvers", {})
    client.force_login(alice)
    response = client.post(
        reverse("admin:mailings_client_add"), {"email": "ann@example.org", "full_name": "Ann", "comment": ""})
    assert response.status_code == 302
    assert Client.objects.get().email == "ann@example.org"
