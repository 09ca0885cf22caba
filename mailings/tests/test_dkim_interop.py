"""A message built by the send path and signed by lib/dkim.py verifies with Perl's Mail::DKIM.

Mail::DKIM (Debian's libmail-dkim-perl) is an implementation that shares no code with dkimpy,
so a pass here means receivers will agree. Its DNS lookups go to a DNS server on loopback
(lib/testing/dns.py) that serves the test key's TXT record, the way a real zone would.
"""
import shutil
import smtplib
import subprocess
from email.utils import formatdate
from pathlib import Path

import pytest

from lib import dkim
from lib.smtp_server import LocalSMTPServer
from lib.testing.dns import LoopbackDNS, QuietLogger, ZoneResolver  # noqa: F401 - test_deliverability imports them from here
from mailings.rendering import PreparedMessage, Recipient

VERIFY_SCRIPT = Path(__file__).with_name("mail_dkim_verify.pl")
DOMAIN, SELECTOR = "mail.example.com", "test2026"


def mail_dkim_missing():
    if not shutil.which("perl"):
        return "perl is not installed"
    probe = subprocess.run(["perl", "-MMail::DKIM::Verifier", "-MNet::DNS", "-e", "1"], capture_output=True)
    return "" if probe.returncode == 0 else "Perl's Mail::DKIM is not installed (apt-get install libmail-dkim-perl)"


pytestmark = pytest.mark.skipif(bool(mail_dkim_missing()), reason=mail_dkim_missing() or "-")


@pytest.fixture(scope="module")
def key():
    return dkim.load_key(DOMAIN, SELECTOR, dkim.generate_key())


@pytest.fixture(scope="module")
def dns_port(key):
    record = dkim.txt_record_value(dkim.public_key_base64(key.private_key))
    with LoopbackDNS({f"{SELECTOR}._domainkey.{DOMAIN}": record}) as dns:
        yield dns.port


def mail_dkim_verdict(message_bytes, dns_port):
    result = subprocess.run(
        ["perl", str(VERIFY_SCRIPT), "127.0.0.1", str(dns_port)],
        input=message_bytes, capture_output=True, timeout=30, check=True,
    )
    return result.stdout.decode().splitlines()[0]


@pytest.fixture
def built_message(settings):
    settings.SITE_URL = "https://mail.example.com"
    prepared = PreparedMessage(
        subject="Скидки для {{ full_name }}", body="<p>Здравствуйте, {{ full_name }}!</p>" * 60,
        from_email=f"Рассылки <news@{DOMAIN}>", site_url=settings.SITE_URL, run_id=7,
    )
    recipient = Recipient(delivery_id=42, client_id=5, email="ivan@example.org", full_name="Иван Петров",
                          unsubscribed=False, tries=0)
    return prepared.build(recipient, formatdate(localtime=False))


def test_a_signed_message_passes_mail_dkim(key, dns_port, built_message):
    assert mail_dkim_verdict(dkim.sign(built_message, key), dns_port) == "pass"


def test_a_tampered_subject_fails_mail_dkim(key, dns_port, built_message):
    signed = dkim.sign(built_message, key)
    subject_start = signed.index(b"\r\nSubject: ") + len(b"\r\nSubject: ")
    tampered = signed[:subject_start] + b"Re: " + signed[subject_start:]
    assert mail_dkim_verdict(tampered, dns_port) == "fail"


def test_an_unsigned_one_click_header_added_later_breaks_the_signature(key, dns_port, built_message):
    """List-Unsubscribe-Post is over-signed: a second one slipped in by a relay is caught."""
    signed = dkim.sign(built_message, key)
    head, _, body = signed.partition(b"\r\n\r\n")
    injected = head + b"\r\nList-Unsubscribe-Post: List-Unsubscribe=Other\r\n\r\n" + body
    assert mail_dkim_verdict(injected, dns_port) == "fail"


def test_the_signature_survives_the_smtp_path(key, dns_port, built_message):
    signed = dkim.sign(built_message, key)
    with LocalSMTPServer() as server:
        with smtplib.SMTP(server.host, server.port, timeout=10) as client:
            client.sendmail(f"bounces@{DOMAIN}", ["ivan@example.org"], signed)
        assert server.wait_for(1)
        received = server.messages[0].data
    assert mail_dkim_verdict(received, dns_port) == "pass"
