"""A message built by the send path and signed by lib/dkim.py verifies with Perl's Mail::DKIM.

Mail::DKIM (Debian's libmail-dkim-perl) is an implementation that shares no code with dkimpy,
so a pass here means receivers will agree. Its DNS lookups go to a DNS server on loopback
(dnslib) that serves the test key's TXT record, the way a real zone would.
"""
import shutil
import smtplib
import subprocess
from email.utils import formatdate
from pathlib import Path

import pytest
from dnslib import QTYPE, RR, TXT
from dnslib.server import BaseResolver, DNSServer

from lib import dkim
from lib.smtp_server import LocalSMTPServer
from mailings.rendering import PreparedMessage, Recipient

VERIFY_SCRIPT = Path(__file__).with_name("mail_dkim_verify.pl")
DOMAIN, SELECTOR = "mail.example.com", "test2026"


def mail_dkim_missing():
    if not shutil.which("perl"):
        return "perl is not installed"
    probe = subprocess.run(["perl", "-MMail::DKIM::Verifier", "-MNet::DNS", "-e", "1"], capture_output=True)
    return "" if probe.returncode == 0 else "Perl's Mail::DKIM is not installed (apt-get install libmail-dkim-perl)"


pytestmark = pytest.mark.skipif(bool(mail_dkim_missing()), reason=mail_dkim_missing() or "-")


class ZoneResolver(BaseResolver):
    """Answers TXT queries from a dict {name: value}; anything else is NXDOMAIN."""

    def __init__(self, records):
        self.records = records

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if request.q.qtype == QTYPE.TXT and name in self.records:
            value = self.records[name].encode("ascii")
            strings = [value[i:i + 255] for i in range(0, len(value), 255)]
            reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(strings), ttl=60))
        else:
            reply.header.rcode = 3  # NXDOMAIN
        return reply


@pytest.fixture(scope="module")
def key():
    return dkim.load_key(DOMAIN, SELECTOR, dkim.generate_key())


@pytest.fixture(scope="module")
def dns_port(key):
    record = dkim.txt_record_value(dkim.public_key_base64(key.private_key))
    server = DNSServer(ZoneResolver({f"{SELECTOR}._domainkey.{DOMAIN}": record}),
                       address="127.0.0.1", port=0, tcp=True, logger=QuietLogger())
    server.start_thread()
    yield server.server.server_address[1]
    server.stop()


class QuietLogger:
    def __getattr__(self, name):
        return lambda *args: None


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
