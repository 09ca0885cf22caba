"""Issue #12 wired in: DKIM on everything sent, a VERP Return-Path per delivery, and bounces
and complaints coming back (mailings/bounces.py, manage.py bounce_server) that mark the
delivery and suppress the address. A real SMTP server on loopback receives the mail; the
reports are real multipart/report messages."""
import smtplib

import dkim as dkimpy
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from dnslib.server import DNSServer

from backoffice.accounts import mail
from lib import dkim, verp
from lib.smtp_server import _free_port
from mailings import services
from mailings.bounces import handle_report, return_path
from mailings.delivery import loop
from mailings.intake import BounceServer
from mailings.models import Delivery, DeliveryStatus, SoftBounces, Suppression, SuppressionReason
from mailings.runs import claim
from mailings.tests.factories import make_attempt, make_mailing
from mailings.tests.test_dkim_interop import QuietLogger, ZoneResolver, mail_dkim_missing, mail_dkim_verdict
from mailings.tests.test_sending import run_now

pytestmark = [pytest.mark.usefixtures("english")]
DOMAIN, SELECTOR = "mail.example.com", "wired2026"


@pytest.fixture(scope="module")
def key():
    return dkim.load_key(DOMAIN, SELECTOR, dkim.generate_key())


@pytest.fixture(scope="module")
def txt_record(key):
    return dkim.txt_record_value(dkim.public_key_base64(key.private_key))


@pytest.fixture
def signing(settings, key):
    settings.DKIM_KEY = key
    settings.DEFAULT_FROM_EMAIL = f"Рассылки <news@{DOMAIN}>"
    return key


def dkimpy_verifies(data, txt_record):
    def dns(name, timeout=5):
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return txt_record.encode()
    return dkimpy.verify(data, dnsfunc=dns)


def signatures(data):
    head = data.partition(b"\r\n\r\n")[0]
    return sum(1 for line in head.split(b"\r\n") if line.lower().startswith(b"dkim-signature:"))


# --- DKIM ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_every_message_of_a_run_is_signed_once_and_verifies(alice, smtp_server, signing, txt_record):
    run_now(make_mailing(alice, 3))

    assert len(smtp_server.messages) == 3
    for received in smtp_server.messages:
        assert signatures(received.data) == 1
        assert dkimpy_verifies(received.data, txt_record)


@pytest.mark.django_db
def test_without_a_key_nothing_is_signed(alice, smtp_server, settings):
    settings.DKIM_KEY = None
    run_now(make_mailing(alice, 1))

    assert signatures(smtp_server.messages[0].data) == 0


@pytest.mark.django_db
def test_a_test_send_is_signed(alice, smtp_server, signing, txt_record, sync_queue, django_capture_on_commit_callbacks):
    mailing = make_mailing(alice, 1, start_at=timezone.now() + timezone.timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.send_test(mailing=mailing, email=alice.email)

    received = smtp_server.messages[0]
    assert received.rcpt_tos == [alice.email]
    assert signatures(received.data) == 1
    assert dkimpy_verifies(received.data, txt_record)


@pytest.mark.django_db
def test_account_mail_is_signed(alice, smtp_server, signing, txt_record):
    assert mail.deliver(mail.REGISTRATION_ATTEMPT, alice.pk, "en") == "sent"

    received = smtp_server.messages[0]
    assert signatures(received.data) == 1
    assert dkimpy_verifies(received.data, txt_record)


@pytest.mark.django_db
@pytest.mark.skipif(bool(mail_dkim_missing()), reason=mail_dkim_missing() or "-")
def test_perls_mail_dkim_agrees_on_a_message_the_run_sent(alice, smtp_server, signing, txt_record):
    server = DNSServer(ZoneResolver({f"{SELECTOR}._domainkey.{DOMAIN}": txt_record}),
                       address="127.0.0.1", port=0, tcp=True, logger=QuietLogger())
    server.start_thread()
    try:
        run_now(make_mailing(alice, 1))
        assert mail_dkim_verdict(smtp_server.messages[0].data, server.server.server_address[1]) == "pass"
    finally:
        server.stop()


# --- Return-Path ------------------------------------------------------------------------

@pytest.mark.django_db
def test_each_message_leaves_with_its_own_deliverys_bounce_address(alice, smtp_server, settings):
    settings.BOUNCE_DOMAIN = "bounces.example.com"
    settings.DEFAULT_FROM_EMAIL = "Рассылки <news@example.com>"
    run_now(make_mailing(alice, 3))

    deliveries = {d.email: d.pk for d in Delivery.objects.all()}
    assert len(smtp_server.messages) == 3
    for received in smtp_server.messages:
        assert received.mail_from.endswith("@bounces.example.com")
        assert verp.delivery_id_from_address(received.mail_from) == deliveries[received.rcpt_tos[0]]
        assert received.message["From"].addresses[0].addr_spec == "news@example.com"


def test_without_a_bounce_domain_the_from_domain_takes_the_bounces(settings):
    settings.BOUNCE_DOMAIN = ""
    address = return_path(41, "news@example.net")

    assert address.endswith("@example.net")
    assert verp.delivery_id_from_address(address) == 41


# --- Reports ------------------------------------------------------------------------------

def dsn(recipient, bounce_address, *, status="5.1.1", action="failed",
        diagnostic="smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"):
    """An RFC 3464 report as Postfix writes it, addressed to the message's Return-Path."""
    diagnostic = diagnostic.format(rcpt=recipient)
    return (
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
        f"To: {bounce_address}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\r\n\r\n'
        "--B1\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        "--B1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n\r\n"
        "--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Return-Path: <{bounce_address}>\r\nFrom: news@example.com\r\nTo: {recipient}\r\nSubject: Hello\r\n\r\n"
        "--B1--\r\n"
    ).encode()


def arf(recipient, bounce_address):
    """A feedback-loop complaint (RFC 5965) quoting the original message."""
    return (
        "From: fbl@isp.example\r\nTo: fbl@example.com\r\nSubject: FW: Hello\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="B2"\r\n\r\n'
        "--B2\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n"
        "--B2\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: ISP-FBL/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: {recipient}\r\n\r\n"
        "--B2\r\nContent-Type: message/rfc822\r\n\r\n"
        f"Return-Path: <{bounce_address}>\r\nFrom: news@example.com\r\nTo: {recipient}\r\nSubject: Hello\r\n\r\nHi\r\n\r\n"
        "--B2--\r\n"
    ).encode()


def sent_deliveries(alice, count=2):
    mailing = make_mailing(alice, count)
    attempt = make_attempt(mailing, timezone.now())
    return [Delivery.objects.create(attempt=attempt, client=client, email=client.email, status=DeliveryStatus.SENT,
                                    smtp_code=250, smtp_response="250 2.0.0 Ok: queued", tries=1)
            for client in mailing.clients.order_by("email")]


def bounce_address(delivery):
    return verp.bounce_address(delivery.pk, "bounces.example.com")


@pytest.mark.django_db
def test_a_hard_bounce_marks_the_delivery_and_suppresses_the_address_once(alice):
    bounced, other = sent_deliveries(alice)
    report = dsn(bounced.email, bounce_address(bounced))

    outcome = handle_report(report, bounce_address(bounced))

    assert (outcome.kind, outcome.delivery_id, outcome.changed) == ("hard", bounced.pk, True)
    bounced.refresh_from_db()
    assert bounced.status == DeliveryStatus.BOUNCED
    assert "550 5.1.1" in bounced.smtp_response and "User unknown" in bounced.smtp_response
    assert list(Suppression.objects.values_list("owner", "email", "reason")) == [
        (alice.pk, bounced.email, SuppressionReason.BOUNCED)]
    other.refresh_from_db()
    assert other.status == DeliveryStatus.SENT

    Suppression.objects.all().delete()  # the owner lets the address through again
    replay = handle_report(report, bounce_address(bounced))
    assert (replay.kind, replay.changed) == ("hard", False)
    assert not Suppression.objects.exists()


@pytest.mark.django_db
def test_a_forged_token_changes_nothing(alice):
    delivery, _other = sent_deliveries(alice)
    genuine = bounce_address(delivery)
    local, _, domain = genuine.partition("@")
    forged = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"

    outcome = handle_report(dsn(delivery.email, forged), forged)

    assert (outcome.kind, outcome.delivery_id) == ("ignored", None)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert not Suppression.objects.exists()


@pytest.mark.django_db
def test_a_complaint_marks_the_delivery_and_suppresses_the_address(alice):
    delivery, _other = sent_deliveries(alice)

    outcome = handle_report(arf(delivery.email, bounce_address(delivery)), "fbl@example.com")

    assert (outcome.kind, outcome.delivery_id, outcome.changed) == ("complaint", delivery.pk, True)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.COMPLAINED
    assert Suppression.objects.get().reason == SuppressionReason.COMPLAINED


def soft(delivery):
    return handle_report(dsn(delivery.email, bounce_address(delivery), status="4.2.2", action="failed",
                             diagnostic="smtp; 452 4.2.2 <{rcpt}>: Mailbox full"), bounce_address(delivery))


def deliveries_to_one_address(alice, count):
    mailing = make_mailing(alice, 1)
    client = mailing.clients.get()
    rows = []
    for _ in range(count):
        attempt = make_attempt(mailing, timezone.now())
        rows.append(Delivery.objects.create(attempt=attempt, client=client, email=client.email,
                                            status=DeliveryStatus.SENT, smtp_code=250, tries=1))
    return rows


@pytest.mark.django_db
def test_soft_bounces_suppress_only_after_the_limit_in_a_row(alice, settings):
    settings.SOFT_BOUNCE_LIMIT = 3
    first, second, third = deliveries_to_one_address(alice, 3)

    assert soft(first).kind == "soft"
    assert soft(first).changed is False  # a replay counts once
    soft(second)
    assert not Suppression.objects.exists()
    assert SoftBounces.objects.get().in_a_row == 2
    soft(third)

    assert Suppression.objects.get().reason == SuppressionReason.BOUNCED
    third.refresh_from_db()
    assert third.status == DeliveryStatus.SENT  # a soft bounce is no verdict on the message


@pytest.mark.django_db
def test_a_message_delivered_in_between_ends_the_soft_bounce_streak(alice, settings):
    settings.SOFT_BOUNCE_LIMIT = 2
    first, delivered, third = deliveries_to_one_address(alice, 3)

    soft(first)
    soft(third)

    assert SoftBounces.objects.get().in_a_row == 1
    assert not Suppression.objects.exists()


# --- End to end: run, bounce over SMTP to the intake, next run ----------------------------

def deliver_over_smtp(port, envelope_to, data):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("", [envelope_to], data)


@pytest.mark.django_db(transaction=True)
def test_a_bounce_delivered_to_the_intake_suppresses_the_address_for_the_next_run(
        smtp_server, settings, sync_queue):
    settings.BOUNCE_DOMAIN = "bounces.example.com"
    owner = get_user_model().objects.create_user(email="owner@example.com", password="x", full_name="Owner")
    mailing = make_mailing(owner, 3, periodicity="daily")  # saved and committed: the inline queue runs it at once
    assert smtp_server.wait_for(3)
    by_rcpt = {received.rcpt_tos[0]: received.mail_from for received in smtp_server.messages}
    assert len(by_rcpt) == 3
    dead = "c00001@example.org"
    return_path_of_dead = by_rcpt[dead]

    intake = BounceServer("127.0.0.1", _free_port("127.0.0.1")).start()
    try:
        local, _, domain = return_path_of_dead.partition("@")
        forged = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            deliver_over_smtp(intake.port, forged, dsn(dead, forged))
        assert not Suppression.objects.exists()

        deliver_over_smtp(intake.port, return_path_of_dead, dsn(dead, return_path_of_dead))
    finally:
        intake.stop()  # waits for the report being handled

    bounced = Delivery.objects.get(email=dead)
    assert bounced.status == DeliveryStatus.BOUNCED
    assert "User unknown" in bounced.smtp_response
    assert list(Suppression.objects.values_list("email", "reason")) == [(dead, SuppressionReason.BOUNCED)]
    assert sorted(Delivery.objects.values_list("status", flat=True)) == ["bounced", "sent", "sent"]

    smtp_server.reset()
    mailing.refresh_from_db()
    tomorrow = mailing.next_run_at
    loop.deliver(claim.claim_scheduled_run(mailing_id=mailing.pk, now=tomorrow), now=lambda: tomorrow)

    assert sorted(smtp_server.recipients()) == ["c00000@example.org", "c00002@example.org"]
    skipped = Delivery.objects.get(email=dead, status=DeliveryStatus.SKIPPED)
    assert skipped.skip_reason == SuppressionReason.BOUNCED
