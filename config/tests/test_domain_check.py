"""The domain check page, its DNS answered by a real DNS server on loopback (lib/testing/dns.py)."""
import re

import pytest
from django.urls import reverse

from lib import dkim, dns_check
from lib.testing.dns import SERVFAIL, TIMEOUT, LoopbackDNS

pytestmark = pytest.mark.django_db
URL = "/admin/domains/"
FROM_DOMAIN, SELECTOR = "example.com", "mail2026"


@pytest.fixture(scope="module")
def key():
    return dkim.load_key(FROM_DOMAIN, SELECTOR, dkim.generate_key())


@pytest.fixture(scope="module")
def other_key():
    return dkim.load_key(FROM_DOMAIN, SELECTOR, dkim.generate_key())


def dkim_record(key):
    return dkim.txt_record_value(dkim.public_key_base64(key.private_key))


@pytest.fixture
def dns(settings, key):
    settings.DEFAULT_FROM_EMAIL = f"Рассылки <news@{FROM_DOMAIN}>"
    settings.BOUNCE_DOMAIN = ""
    settings.DKIM_KEY = key
    settings.DNS_TIMEOUT = 1
    with LoopbackDNS() as server:
        settings.DNS_RESOLVER = server.address
        yield server


def page(client, user):
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


def verdicts(html):
    return dict(re.findall(r'data-check="(\w+)" data-verdict="(\w+)"', html))


def test_a_well_published_domain_is_ok_everywhere(client, manager, dns, key):
    dns.records.update({
        FROM_DOMAIN: "v=spf1 mx -all",
        f"{SELECTOR}._domainkey.{FROM_DOMAIN}": dkim_record(key),
        f"_dmarc.{FROM_DOMAIN}": "v=DMARC1; p=reject",
    })
    html = page(client, manager)
    assert verdicts(html) == {"spf": "ok", "dkim": "ok", "dmarc": "ok", "alignment": "ok"}
    assert "Опубликованный ключ совпадает с закрытым ключом, которым подписывает сервис." in html
    assert 'data-part="publish"' not in html


def test_missing_records_are_shown_with_the_records_to_publish(client, superuser, dns, key):
    html = page(client, superuser)
    assert verdicts(html) == {"spf": "missing", "dkim": "missing", "dmarc": "missing", "alignment": "ok"}
    assert html.count('data-part="verdict">нет записи</span>') == 3
    published = re.findall(r'data-part="publish">([^<]*)</pre>', html)
    assert published == ["v=spf1 mx ~all", dkim_record(key), "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com"]
    assert f"Опубликуйте TXT-запись с именем {SELECTOR}._domainkey.{FROM_DOMAIN}:" in html


def test_wrong_records_say_what_is_wrong(client, manager, dns, other_key):
    dns.records.update({
        FROM_DOMAIN: "v=spf1 a mx +all",
        f"{SELECTOR}._domainkey.{FROM_DOMAIN}": dkim_record(other_key),
        f"_dmarc.{FROM_DOMAIN}": "v=DMARC1; p=none",
    })
    html = page(client, manager)
    assert verdicts(html) == {"spf": "wrong", "dkim": "wrong", "dmarc": "warning", "alignment": "ok"}
    assert "Запись SPF кончается на +all: письмо от любого сервера в интернете пройдёт проверку" in html
    assert (f"Ключ, опубликованный в {SELECTOR}._domainkey.{FROM_DOMAIN}, не совпадает с закрытым ключом, "
            "которым подписывает сервис") in html
    assert "Политика p=none: получатели только присылают отчёты" in html


def test_a_dns_failure_is_a_verdict_not_an_error_page(client, manager, dns, key):
    dns.records.update({FROM_DOMAIN: SERVFAIL, f"_dmarc.{FROM_DOMAIN}": TIMEOUT,
                        f"{SELECTOR}._domainkey.{FROM_DOMAIN}": dkim_record(key)})
    html = page(client, manager)
    assert verdicts(html) == {"spf": "error", "dkim": "ok", "dmarc": "error", "alignment": "ok"}
    assert "DNS не ответил" in html
    assert f"DNS-сервер не смог ответить про {FROM_DOMAIN} (SERVFAIL)" in html
    assert f"DNS-сервер не ответил про _dmarc.{FROM_DOMAIN} за 1 с" in html


def test_without_dkim_and_with_a_foreign_bounce_domain_nothing_aligns(client, manager, dns, settings):
    settings.DKIM_KEY = None
    settings.BOUNCE_DOMAIN = "bounces.example.net"
    dns.records.update({"bounces.example.net": "v=spf1 mx -all"})
    html = page(client, manager)
    assert verdicts(html) == {"spf": "ok", "dkim": "missing", "dmarc": "missing", "alignment": "wrong"}
    assert "Письма не подписываются DKIM: ключ не настроен." in html


def test_a_localhost_sender_has_nothing_to_look_up(client, manager, settings):
    settings.DEFAULT_FROM_EMAIL = "Рассылки <noreply@localhost>"
    html = page(client, manager)
    assert 'data-verdict="not-public"' in html and verdicts(html) == {}


@pytest.mark.parametrize("role, allowed", [
    ("superuser", True), ("manager", True), ("alice", False), ("content_manager", False),
])
def test_only_superusers_and_managers_see_the_page_and_its_menu_entry(client, request, settings, role, allowed):
    settings.DEFAULT_FROM_EMAIL = "noreply@localhost"  # no DNS asked
    client.force_login(request.getfixturevalue(role))
    assert client.get(URL).status_code == (200 if allowed else 403)
    assert (f'href="{URL}"' in client.get(reverse("admin:index")).content.decode()) is allowed


def test_the_page_is_read_only(client, superuser, settings):
    settings.DEFAULT_FROM_EMAIL = "noreply@localhost"
    client.force_login(superuser)
    assert client.post(URL).status_code == 405


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]



def test_a_machine_without_dns_configuration_is_a_verdict_not_an_error_page(client, manager, dns, settings,
                                                                              monkeypatch, tmp_path):
    settings.DNS_RESOLVER = ""  # the system's resolver, whose /etc/resolv.conf is missing
    monkeypatch.setattr(dns_check, "SYSTEM_RESOLV_CONF", str(tmp_path / "missing"))
    html = page(client, manager)
    assert verdicts(html) == {"spf": "error", "dkim": "error", "dmarc": "error", "alignment": "ok"}
    assert "На этой машине не настроен DNS-сервер (нет /etc/resolv.conf): задайте DNS_RESOLVER." in html
