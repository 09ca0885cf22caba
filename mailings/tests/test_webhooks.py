"""Provider webhooks (mailings/webhooks.py): real Postmark and Mailgun event payloads, in the
shape those providers post them (as in their documentation and django-anymail's own tests),
through Django's test client, anymail's views and its tracking signal, to the bounce rule."""
import base64
import hashlib
import hmac
import json
import time

import pytest
from django.test import Client
from django.urls import reverse

from lib import verp
from lib.bounces import HARD, classify, status_of
from mailings.bounces import TOKEN_METADATA_KEY
from mailings.models import Delivery, DeliveryStatus, SoftBounces, Suppression, SuppressionReason
from mailings.tests.factories import make_mailing
from mailings.tests.test_deliverability import sent_deliveries
from mailings.tests.test_sending import run_now

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

SECRET = "esp-webhooks:9bq2c7xVpR4mYk1LzT8wH3sN"
SIGNING_KEY = "mailgun-signing-key-for-the-tests"


@pytest.fixture
def configured(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


def auth(secret=SECRET):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def post(client, provider, payload, *, headers=None, raw=None):
    body = raw if raw is not None else json.dumps(payload)
    return client.post(reverse("provider_tracking_webhook", args=[provider]), data=body,
                       content_type="application/json", **(auth() if headers is None else headers))


def postmark_bounce(delivery, token=None, *, kind="HardBounce",
                    details="smtp;550 5.1.1 The email account that you tried to reach does not exist."):
    """Postmark's bounce webhook, with the metadata our X-PM-Metadata header gave the message."""
    return {
        "RecordType": "Bounce", "ID": 4323372036854775807, "Type": kind, "TypeCode": 1,
        "Name": "Hard bounce", "Tag": "", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {TOKEN_METADATA_KEY: token if token is not None else verp.make_token(delivery.pk)},
        "ServerID": 23, "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": details, "Email": delivery.email, "From": "news@example.com",
        "BouncedAt": "2026-11-30T12:00:00Z", "DumpAvailable": True, "Inactive": True, "CanActivate": True,
        "Subject": "Hello",
    }


def postmark_complaint(delivery):
    return {
        "RecordType": "SpamComplaint", "ID": 42, "Type": "SpamComplaint", "TypeCode": 512,
        "Name": "Spam complaint", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {TOKEN_METADATA_KEY: verp.make_token(delivery.pk)}, "ServerID": 23,
        "MessageStream": "outbound", "Description": "", "Details": "Test spam complaint details",
        "Email": delivery.email, "From": "news@example.com", "BouncedAt": "2026-11-30T12:00:00Z",
        "DumpAvailable": True, "Inactive": True, "CanActivate": False, "Subject": "Hello",
    }


def mailgun_signed(event_data, key=SIGNING_KEY):
    """Mailgun's JSON webhook: the event and its signature block (HMAC-SHA256 of timestamp+token)."""
    timestamp, token = str(int(time.time())), "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event_data}


def mailgun_failed(delivery, *, severity="permanent", code=550, reason="bounce",
                   message="5.1.1 The email account that you tried to reach does not exist.", token=None):
    return mailgun_signed({
        "event": "failed", "severity": severity, "reason": reason, "recipient": delivery.email,
        "timestamp": time.time(), "log-level": "error", "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "user-variables": {TOKEN_METADATA_KEY: token if token is not None else verp.make_token(delivery.pk)},
        "message": {"headers": {"to": delivery.email, "message-id": "20261130120000.1.ABC@example.com",
                                "from": "news@example.com", "subject": "Hello"}},
        "delivery-status": {"attempt-no": 1, "code": code, "message": message, "description": "",
                            "mx-host": "mx.example.org", "session-seconds": 0.4},
        "flags": {"is-routed": False, "is-authenticated": True, "is-test-mode": False},
    })


def mailgun_complained(delivery):
    return mailgun_signed({
        "event": "complained", "recipient": delivery.email, "timestamp": time.time(), "id": "-Agny091SquKnsrW2NEKUA",
        "user-variables": {TOKEN_METADATA_KEY: verp.make_token(delivery.pk)},
        "message": {"headers": {"to": delivery.email, "message-id": "20261130120000.1.ABC@example.com",
                                "from": "news@example.com", "subject": "Hello"}},
    })


def unchanged(*deliveries):
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SENT
    return not Suppression.objects.exists() and not SoftBounces.objects.exists()


# --- Events that change a delivery --------------------------------------------------------

def test_a_postmark_hard_bounce_bounces_the_delivery_and_suppresses_the_address(alice, configured):
    bounced, other = sent_deliveries(alice)
    client = Client(enforce_csrf_checks=True)  # a provider has no CSRF cookie

    response = post(client, "postmark", postmark_bounce(bounced))

    assert response.status_code == 200
    bounced.refresh_from_db()
    assert bounced.status == DeliveryStatus.BOUNCED
    assert bounced.smtp_response == "5.1.1 550 5.1.1 The email account that you tried to reach does not exist."
    assert list(Suppression.objects.values_list("owner", "email", "reason")) == [
        (alice.pk, bounced.email, SuppressionReason.BOUNCED)]
    other.refresh_from_db()
    assert other.status == DeliveryStatus.SENT
    assert post(client, "postmark", postmark_bounce(bounced)).status_code == 200  # a resent event changes nothing
    assert Suppression.objects.count() == 1


def test_a_mailgun_permanent_failure_bounces_the_delivery(client, alice, configured):
    bounced, _other = sent_deliveries(alice)

    response = post(client, "mailgun", mailgun_failed(bounced))

    assert response.status_code == 200
    bounced.refresh_from_db()
    assert bounced.status == DeliveryStatus.BOUNCED
    assert Suppression.objects.get().reason == SuppressionReason.BOUNCED


def test_a_mailgun_temporary_failure_counts_one_soft_bounce_per_delivery(client, alice, configured, settings):
    settings.SOFT_BOUNCE_LIMIT = 2
    delivery, _other = sent_deliveries(alice)
    deferred = dict(severity="temporary", code=452, reason="generic", message="4.2.2 Mailbox full")

    assert post(client, "mailgun", mailgun_failed(delivery, **deferred)).status_code == 200
    assert post(client, "mailgun", mailgun_failed(delivery, **deferred)).status_code == 200  # Mailgun's retry

    assert SoftBounces.objects.get().in_a_row == 1
    assert "Mailbox full" in SoftBounces.objects.get().diagnostic
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and not Suppression.objects.exists()


def test_a_permanent_failure_that_blames_no_address_is_soft(client, alice, configured):
    """Postmark's SoftBounce (anymail calls it "bounced"), its SpamNotification (a filter, which
    anymail calls "complained") and a "permanent" block for spam keep the address."""
    first, second, third = sent_deliveries(alice, 3)

    post(client, "postmark", postmark_bounce(first, kind="SoftBounce", details="smtp;452 4.2.2 Mailbox full"))
    post(client, "mailgun", mailgun_failed(second, message="5.7.1 Message rejected as spam by Content Filtering"))
    post(client, "postmark", postmark_bounce(third, kind="SpamNotification", details="Rejected by a content filter"))

    assert not Suppression.objects.exists()
    assert SoftBounces.objects.count() == 3
    for delivery in (first, second, third):
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SENT


def test_an_address_the_provider_already_knows_is_dead_is_a_hard_bounce(client, alice, configured):
    """Mailgun's "suppress-bounce" (it did not try: the address bounced before) and Postmark's
    BadEmailAddress suppress the address, though their words name no reason of their own."""
    first, second = sent_deliveries(alice, 2)

    post(client, "mailgun", mailgun_failed(first, reason="suppress-bounce", code=605,
                                           message="Not delivering to previously bounced address"))
    post(client, "postmark", postmark_bounce(second, kind="BadEmailAddress", details="Invalid email address"))

    assert sorted(Suppression.objects.values_list("email", "reason")) == sorted(
        [(first.email, SuppressionReason.BOUNCED), (second.email, SuppressionReason.BOUNCED)])
    for delivery in (first, second):
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.BOUNCED


@pytest.mark.parametrize("severity, code, message, hard", [
    ("permanent", 550, "5.1.1 The email account that you tried to reach does not exist.", True),
    ("permanent", 550, "5.7.0 Message refused", False),  # neither the code nor the words blame the address
    ("permanent", 550, "5.1.1 Mailbox full", False),  # the words win over the code
    ("temporary", 452, "4.2.2 Mailbox full", False),
    ("temporary", 450, "4.1.1 No such user here", True),
])
def test_a_provider_event_is_classified_as_a_bounce_message_with_the_same_reply(
        client, alice, configured, severity, code, message, hard):
    """The provider's severity is a delivery status report's action (permanent: failed,
    temporary: delayed), and the server's reply is classified by the one rule."""
    delivery, _other = sent_deliveries(alice)
    action = "failed" if severity == "permanent" else "delayed"
    assert (classify(status_of(message), message, action) == HARD) == hard  # what a bounce message would give

    assert post(client, "mailgun", mailgun_failed(delivery, severity=severity, code=code, message=message)
                ).status_code == 200

    delivery.refresh_from_db()
    assert (delivery.status, Suppression.objects.exists(), SoftBounces.objects.exists()) == (
        (DeliveryStatus.BOUNCED, True, False) if hard else (DeliveryStatus.SENT, False, True))


@pytest.mark.parametrize("provider, payload", [("postmark", postmark_complaint), ("mailgun", mailgun_complained)])
def test_a_complaint_marks_the_delivery_complained(client, alice, configured, provider, payload):
    delivery, other = sent_deliveries(alice)

    assert post(client, provider, payload(delivery)).status_code == 200

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.COMPLAINED
    assert Suppression.objects.get().reason == SuppressionReason.COMPLAINED


def test_events_about_no_failure_change_nothing(client, alice, configured):
    delivery, _other = sent_deliveries(alice)
    delivered = {"RecordType": "Delivery", "ServerID": 23, "MessageID": "883953f4", "Recipient": delivery.email,
                 "Metadata": {TOKEN_METADATA_KEY: verp.make_token(delivery.pk)},
                 "DeliveredAt": "2026-11-30T12:00:00Z", "Details": "Test delivery webhook details"}

    assert post(client, "postmark", delivered).status_code == 200
    assert unchanged(delivery)


# --- Refused: authentication, forged tokens, unreadable bodies ----------------------------

@pytest.mark.parametrize("headers", [{}, auth("esp-webhooks:wrong-password-0000000"), auth("esp-webhooks"),
                                     {"HTTP_AUTHORIZATION": "Basic !!!not-base64"},
                                     {"HTTP_AUTHORIZATION": "Bearer " + SECRET}])
@pytest.mark.parametrize("provider", ["postmark", "mailgun"])
def test_without_the_secret_the_event_is_refused_and_changes_nothing(client, alice, configured, provider, headers):
    delivery, _other = sent_deliveries(alice)
    payload = postmark_bounce(delivery) if provider == "postmark" else mailgun_failed(delivery)

    response = post(client, provider, payload, headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert unchanged(delivery)


def test_a_mailgun_event_with_a_wrong_signature_is_refused(client, alice, configured):
    delivery, _other = sent_deliveries(alice)
    payload = mailgun_failed(delivery)
    payload["signature"]["signature"] = "0" * 64

    assert post(client, "mailgun", payload).status_code == 403
    assert unchanged(delivery)


@pytest.mark.parametrize("anymail_settings", [{}, {"WEBHOOK_SECRET": ""}, {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}])
def test_without_a_configured_secret_the_webhooks_are_not_there(client, alice, settings, anymail_settings):
    settings.ANYMAIL = anymail_settings
    delivery, _other = sent_deliveries(alice)

    assert post(client, "postmark", postmark_bounce(delivery)).status_code == 404
    assert post(client, "mailgun", mailgun_failed(delivery)).status_code == 404
    assert unchanged(delivery)


def test_mailgun_needs_its_signing_key_too(client, alice, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    delivery, _other = sent_deliveries(alice)

    assert post(client, "mailgun", mailgun_failed(delivery)).status_code == 404
    assert post(client, "sendgrid", {}).status_code == 404  # no such provider here
    assert unchanged(delivery)


@pytest.mark.parametrize("token", ["", "no-token", "not a token at all"])
def test_a_forged_or_missing_token_changes_nothing(client, alice, configured, token):
    delivery, _other = sent_deliveries(alice)
    genuine = verp.make_token(delivery.pk)
    forged = token or f"{genuine[:-1]}{'a' if genuine[-1] != 'a' else 'b'}"

    assert post(client, "postmark", postmark_bounce(delivery, token=forged)).status_code == 200
    assert post(client, "mailgun", mailgun_failed(delivery, token=forged)).status_code == 200
    assert unchanged(delivery)


def test_a_token_for_another_delivery_is_no_use_after_its_mac_is_changed(client, alice, configured):
    delivery, other = sent_deliveries(alice)
    mac = verp.make_token(other.pk).partition("-")[2]
    forged = f"{verp.make_token(delivery.pk).partition('-')[0]}-{mac}"  # the other's MAC on this id

    assert post(client, "postmark", postmark_bounce(delivery, token=forged)).status_code == 200
    assert unchanged(delivery, other)


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b'{"RecordType": "Bounce"\x00}', 400),
    (b"\xff\xfe\x00{", 400),
    (b'["a", "list"]', 400),
    (b"", 400),
])
def test_an_unreadable_body_is_refused_and_changes_nothing(client, alice, configured, body, status):
    delivery, _other = sent_deliveries(alice)

    for provider in ("postmark", "mailgun"):
        assert post(client, provider, None, raw=body).status_code == status
    assert unchanged(delivery)


def test_a_nul_inside_a_string_is_refused(client, alice, configured):
    delivery, _other = sent_deliveries(alice)
    payload = postmark_bounce(delivery, details="smtp;550 5.1.1 no such user\x00; DROP TABLE")

    assert post(client, "postmark", payload).status_code == 400
    assert unchanged(delivery)


def test_a_huge_body_is_refused_before_it_is_read(client, alice, configured):
    delivery, _other = sent_deliveries(alice)
    payload = postmark_bounce(delivery)
    payload["Content"] = "x" * (2 * 1024 * 1024)

    assert post(client, "postmark", payload).status_code == 413
    assert unchanged(delivery)


@pytest.mark.parametrize("provider, payload, status", [
    ("postmark", {"FromFull": {"Email": "someone@example.net"}, "Subject": "inbound mail posted here"}, 400),
    ("postmark", {"RecordType": "Bounce", "Type": "HardBounce", "Metadata": "not an object", "Email": 7}, 400),
    ("mailgun", mailgun_signed({"no-event": True}), 400),
    ("mailgun", {"event-data": {"event": "failed"}}, 403),  # no signature block: anymail cannot check it
    ("mailgun", mailgun_signed({"event": "failed", "severity": "permanent", "recipient": "c00000@example.org",
                                "user-variables": ["not", "an", "object"]}), 200),  # read, but no token
])
def test_a_payload_anymail_cannot_read_changes_nothing_and_never_answers_500(
        client, alice, configured, provider, payload, status):
    delivery, _other = sent_deliveries(alice)

    assert post(client, provider, payload).status_code == status
    assert unchanged(delivery)


def test_a_get_is_refused_and_a_head_check_answers(client, configured):
    url = reverse("provider_tracking_webhook", args=["postmark"])
    assert client.get(url, **auth()).status_code == 405
    assert client.head(url, **auth()).status_code == 200
    assert client.head(url).status_code == 401


# --- The token travels with the message --------------------------------------------------

@pytest.mark.parametrize("provider, header", [("mailgun", "X-Mailgun-Variables"),
                                              ("postmark", f"X-PM-Metadata-{TOKEN_METADATA_KEY}")])
def test_a_relayed_message_carries_its_delivery_token_for_the_provider(
        client, alice, smtp_server, settings, configured, provider, header):
    settings.EMAIL_RELAY_PROVIDER = provider
    run_now(make_mailing(alice, 2))

    deliveries = {d.email: d for d in Delivery.objects.all()}
    assert len(smtp_server.messages) == 2
    for received in smtp_server.messages:
        value = received.message[header]
        token = json.loads(value)[TOKEN_METADATA_KEY] if provider == "mailgun" else value
        assert verp.delivery_id_from_token(token) == deliveries[received.rcpt_tos[0]].pk

    bounced = deliveries[smtp_server.messages[0].rcpt_tos[0]]
    token = smtp_server.messages[0].message[header]
    event = (mailgun_failed(bounced, token=json.loads(token)[TOKEN_METADATA_KEY]) if provider == "mailgun"
             else postmark_bounce(bounced, token=token))
    assert post(client, provider, event).status_code == 200
    bounced.refresh_from_db()
    assert bounced.status == DeliveryStatus.BOUNCED


def test_without_a_relay_provider_no_provider_header_is_added(alice, smtp_server, settings):
    settings.EMAIL_RELAY_PROVIDER = ""
    run_now(make_mailing(alice, 1))

    headers = {name.lower() for name in smtp_server.messages[0].message.keys()}
    assert not {name for name in headers if name.startswith(("x-mailgun", "x-pm-"))}
