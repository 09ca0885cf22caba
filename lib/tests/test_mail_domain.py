"""The optional MX check (lib/mail_domain.py) against a real DNS server on loopback."""
import logging

import pytest

from lib import dns_check, mail_domain
from lib.testing.dns import SERVFAIL, TIMEOUT, LoopbackDNS

GLOBAL_V4, GLOBAL_V6 = "93.184.215.14", "2606:4700::1111"  # email-validator wants a global address
ZONE = {
    "mx.example.org": {"MX": [(10, "mail.mx.example.org")]},
    "a-only.example.org": {"A": [GLOBAL_V4]},
    "aaaa-only.example.org": {"AAAA": [GLOBAL_V6]},
    "null-mx.example.org": {"MX": [(0, ".")]},
    "no-mail.example.org": {"TXT": ["a name with no mail records"]},
    "private-a.example.org": {"A": ["10.0.0.1"]},
    "broken.example.org": SERVFAIL,
    "slow.example.org": TIMEOUT,
}


@pytest.fixture
def dns(settings):
    settings.EMAIL_CHECK_MX = True
    settings.DNS_TIMEOUT = 0.5
    with LoopbackDNS(ZONE) as server:
        settings.DNS_RESOLVER = server.address
        yield server


@pytest.mark.parametrize("email", [
    "ann@mx.example.org", "ann@a-only.example.org", "ann@aaaa-only.example.org", "Ann@MX.Example.org",
])
def test_a_domain_that_takes_mail_passes(dns, email):
    assert mail_domain.refusal(email) is None


@pytest.mark.parametrize("email, reason", [
    ("ann@null-mx.example.org", "The domain null-mx.example.org does not accept mail."),
    ("ann@no-mail.example.org", "The domain no-mail.example.org does not accept mail."),
    ("ann@private-a.example.org", "The domain private-a.example.org does not accept mail."),
    ("ann@gone.example.org", "The domain gone.example.org does not exist: no mail can reach it."),
])
def test_a_domain_that_certainly_takes_no_mail_is_refused_naming_it(dns, english, email, reason):
    assert mail_domain.refusal(email) == reason


def test_the_refusal_reads_in_russian(dns):
    assert mail_domain.refusal("ann@null-mx.example.org") == "Домен null-mx.example.org не принимает почту."
    assert mail_domain.refusal("ann@gone.example.org") == (
        "Домена gone.example.org не существует: почту на него доставить нельзя.")


@pytest.mark.parametrize("domain", ["slow.example.org", "broken.example.org"])
def test_our_dns_trouble_accepts_the_address_and_logs_it(dns, caplog, domain):
    with caplog.at_level(logging.WARNING, logger="lib.mail_domain"):
        assert mail_domain.refusal(f"ann@{domain}") is None
    assert f"MX check of {domain}" in caplog.text
    assert "accepted" in caplog.text


def test_many_addresses_of_one_domain_ask_once(dns):
    check = mail_domain.DomainCheck()
    for name in ("ann", "ben", "cid"):
        assert check.refusal(f"{name}@mx.example.org") is None
        assert check.refusal(f"{name}@null-mx.example.org")
    assert dns.queries.count(("mx.example.org", "MX")) == 1
    assert dns.queries.count(("null-mx.example.org", "MX")) == 1


def test_a_domain_that_timed_out_is_not_asked_again_in_the_same_check(dns):
    check = mail_domain.DomainCheck()
    check.refusal("ann@slow.example.org")
    asked = len(dns.queries)
    check.refusal("ben@slow.example.org")
    assert len(dns.queries) == asked


def test_the_forms_share_a_cache_of_answers(dns):
    mail_domain.refusal("ann@mx.example.org")
    mail_domain.refusal("ben@mx.example.org")
    assert dns.queries.count(("mx.example.org", "MX")) == 1


def test_off_by_default_asks_no_dns_at_all(dns, settings):
    settings.EMAIL_CHECK_MX = False
    assert mail_domain.refusal("ann@null-mx.example.org") is None
    assert mail_domain.refusal("ann@gone.example.org") is None
    assert mail_domain.domain_check() is None
    assert dns.queries == []


def test_an_address_literal_or_garbage_asks_nothing_and_is_left_to_the_syntax_rule(dns):
    assert mail_domain.refusal("ann@[192.0.2.1]") is None
    assert mail_domain.refusal("no address at all") is None
    assert mail_domain.refusal("") is None
    assert dns.queries == []


def test_a_machine_without_dns_configuration_accepts_the_address_like_a_timeout(
        settings, monkeypatch, tmp_path, caplog):
    settings.EMAIL_CHECK_MX = True
    settings.DNS_RESOLVER = ""  # the system's resolver, whose /etc/resolv.conf is missing
    monkeypatch.setattr(dns_check, "SYSTEM_RESOLV_CONF", str(tmp_path / "missing"))
    monkeypatch.setattr(mail_domain, "_resolvers", {})
    with caplog.at_level(logging.WARNING, logger="lib.mail_domain"):
        assert mail_domain.refusal("ann@example.org") is None
    assert "MX check of example.org could not be made" in caplog.text
    assert "accepted" in caplog.text
