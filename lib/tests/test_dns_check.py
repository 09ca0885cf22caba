"""SPF, DKIM and DMARC verdicts, with the records served by a real DNS server on loopback."""
import pytest

from lib import dns_check
from lib.dns_check import SendingSetup, Verdict
from lib.testing.dns import SERVFAIL, TIMEOUT, LoopbackDNS

OUR_KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAour" + "A" * 300
OTHER_KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAother" + "B" * 300
SETUP = SendingSetup(from_domain="example.com", envelope_domain="example.com", dkim_domain="example.com",
                     dkim_selector="mail2026", public_key=OUR_KEY)
GOOD = {
    "example.com": ["v=spf1 mx ip4:192.0.2.1 -all", "google-site-verification=abc"],
    "mail2026._domainkey.example.com": f"v=DKIM1; k=rsa; p={OUR_KEY}",
    "_dmarc.example.com": "v=DMARC1; p=reject; rua=mailto:d@example.com",
}


@pytest.fixture
def dns():
    with LoopbackDNS() as server:
        yield server


def verdicts(dns, records, setup=SETUP):
    dns.records.clear()
    dns.records.update(records)
    checks = dns_check.check_domain(setup, dns_check.make_resolver(dns.address, timeout=1))
    return {check.kind: (check.verdict, check.problem) for check in checks}, {check.kind: check for check in checks}


def test_a_well_published_domain_passes_every_check(dns):
    found, checks = verdicts(dns, GOOD)
    assert found == {"spf": (Verdict.OK, ""), "dkim": (Verdict.OK, ""), "dmarc": (Verdict.OK, ""),
                     "alignment": (Verdict.OK, "")}
    assert checks["spf"].found == ("v=spf1 mx ip4:192.0.2.1 -all",)  # the other TXT record is not SPF
    assert checks["dkim"].name == "mail2026._domainkey.example.com"
    assert checks["dkim"].found == (f"v=DKIM1; k=rsa; p={OUR_KEY}",)  # two 255-byte strings, joined


def test_missing_records_say_what_to_publish(dns):
    found, checks = verdicts(dns, {})
    assert found["spf"] == found["dkim"] == found["dmarc"] == (Verdict.MISSING, "missing")
    assert checks["spf"].publish == "v=spf1 mx ~all"
    assert checks["dkim"].publish == f"v=DKIM1; k=rsa; p={OUR_KEY}"
    assert checks["dmarc"].publish == "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com"


def test_wrong_records_are_named(dns):
    found, checks = verdicts(dns, {
        "example.com": "v=spf1 a mx +all",
        "mail2026._domainkey.example.com": f"v=DKIM1; k=rsa; p={OTHER_KEY}",
        "_dmarc.example.com": "v=DMARC1; p=none",
    })
    assert found["spf"] == (Verdict.WRONG, "pass_all")
    assert checks["spf"].publish == "v=spf1 a mx ~all"
    assert found["dkim"] == (Verdict.WRONG, "key_mismatch")
    assert found["dmarc"] == (Verdict.WARNING, "monitor_only")
    assert checks["dmarc"].publish == "v=DMARC1; p=quarantine"


@pytest.mark.parametrize("record, expected", [
    ("v=spf1 mx", (Verdict.WARNING, "no_all")),
    ("v=spf1 mx ?all", (Verdict.WARNING, "neutral_all")),
    ("v=spf1 mx all", (Verdict.WRONG, "pass_all")),
    ("v=spf1 redirect=_spf.example.net", (Verdict.OK, "")),
    (["v=spf1 mx -all", "v=spf1 a -all"], (Verdict.WRONG, "several")),
])
def test_spf_endings(dns, record, expected):
    found, _checks = verdicts(dns, {**GOOD, "example.com": record})
    assert found["spf"] == expected


def test_a_revoked_dkim_key_is_wrong(dns):
    found, _checks = verdicts(dns, {**GOOD, "mail2026._domainkey.example.com": "v=DKIM1; p="})
    assert found["dkim"] == (Verdict.WRONG, "revoked")


def test_without_a_dkim_key_nothing_is_looked_up_and_alignment_rests_on_spf(dns):
    setup = SendingSetup(from_domain="example.com", envelope_domain="example.com")
    found, checks = verdicts(dns, GOOD, setup)
    assert found["dkim"] == (Verdict.MISSING, "not_configured") and checks["dkim"].name == ""
    assert found["alignment"] == (Verdict.WARNING, "no_dkim")


def test_a_signature_of_another_domain_is_not_aligned(dns):
    setup = SendingSetup(from_domain="example.com", envelope_domain="bounces.example.net",
                         dkim_domain="example.net", dkim_selector="mail2026", public_key=OUR_KEY)
    found, _checks = verdicts(dns, {"mail2026._domainkey.example.net": f"v=DKIM1; p={OUR_KEY}"}, setup)
    assert found["alignment"] == (Verdict.WRONG, "unaligned")


def test_strict_dkim_alignment_needs_the_exact_from_domain(dns):
    setup = SendingSetup(from_domain="news.example.com", envelope_domain="news.example.com",
                         dkim_domain="example.com", dkim_selector="mail2026", public_key=OUR_KEY)
    relaxed, _ = verdicts(dns, {**GOOD, "_dmarc.news.example.com": "v=DMARC1; p=reject"}, setup)
    strict, _ = verdicts(dns, {**GOOD, "_dmarc.news.example.com": "v=DMARC1; p=reject; adkim=s"}, setup)
    assert relaxed["alignment"] == (Verdict.OK, "")
    assert strict["alignment"] == (Verdict.WARNING, "dkim_unaligned")  # SPF of news.example.com still aligns


def test_a_subdomain_falls_back_to_the_parents_dmarc_and_its_subdomain_policy(dns):
    setup = SendingSetup(from_domain="news.example.com", envelope_domain="news.example.com")
    found, checks = verdicts(dns, {"_dmarc.example.com": "v=DMARC1; p=reject; sp=none"}, setup)
    assert found["dmarc"] == (Verdict.WARNING, "monitor_only")
    assert checks["dmarc"].facts["inherited_from"] == "_dmarc.example.com"


def test_dns_failures_are_verdicts_not_exceptions(dns):
    found, _checks = verdicts(dns, {**GOOD, "example.com": SERVFAIL, "_dmarc.example.com": TIMEOUT})
    assert found["spf"] == (Verdict.ERROR, "servfail")
    assert found["dmarc"] == (Verdict.ERROR, "timeout")
    assert found["dkim"] == (Verdict.OK, "")


def test_no_dns_server_at_all_is_a_timeout():
    with LoopbackDNS() as dead:
        address = dead.address
    checks = dns_check.check_domain(SETUP, dns_check.make_resolver(address, timeout=0.5))
    assert {check.verdict for check in checks if check.kind != "alignment"} == {Verdict.ERROR}


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:5353", ("127.0.0.1", 5353)), ("8.8.8.8", ("8.8.8.8", 53)), ("[::1]:53", ("::1", 53)),
    ("::1", ("::1", 53)),
])
def test_resolver_addresses(address, expected):
    assert dns_check.split_address(address) == expected


@pytest.mark.parametrize("domain, from_domain, strict, expected", [
    ("example.com", "example.com", True, True),
    ("example.com", "news.example.com", False, True),
    ("news.example.com", "example.com", False, True),
    ("example.com", "news.example.com", True, False),
    ("example.net", "example.com", False, False),
    ("badexample.com", "example.com", False, False),
])
def test_alignment(domain, from_domain, strict, expected):
    assert dns_check.aligned(domain, from_domain, strict) is expected


@pytest.mark.parametrize("resolv_conf", [None, "# nameservers removed\n"])
def test_a_machine_without_dns_configuration_gets_no_resolver_not_an_exception(monkeypatch, tmp_path, resolv_conf):
    path = tmp_path / "resolv.conf"
    if resolv_conf is not None:
        path.write_text(resolv_conf)
    monkeypatch.setattr(dns_check, "SYSTEM_RESOLV_CONF", str(path))
    assert dns_check.make_resolver("") is None
    checks = dns_check.check_domain(SETUP, dns_check.make_resolver(""))
    assert {check.kind: check.problem for check in checks if check.verdict == Verdict.ERROR} == {
        "spf": "no_resolver", "dkim": "no_resolver", "dmarc": "no_resolver"}
