"""What comes back after a message went out: bounces and complaints; see docs/architecture.md and docs/deliverability.md.

Every message leaves with its own envelope sender, ``bounces+<token>@<bounce domain>``
(``return_path``), so a report that comes back is tied to exactly one delivery by the
token, not by guessing from addresses in its text. ``handle_report`` is the one entry the
intakes that receive a message call (``manage.py bounce_server``, the IMAP poller); a
provider's webhook, whose event is already read, calls the same ``apply_complaint`` /
``apply_failures`` that ``handle_report`` ends in. A report without a valid token changes nothing: nobody can mark a delivery
bounced, or an address suppressed, by mailing a made-up address. Handling the same report
twice changes nothing the second time.
"""
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from lib import arf, bounces, verp
from mailings.audience import suppress
from mailings.models import Client, Delivery, DeliveryStatus, SoftBounces, SuppressionReason
from mailings.signals import figures_changed
from mailings.statistics import rollup

logger = logging.getLogger(__name__)

# A report is about a message that was handed over: only such rows change.
REPORTABLE = (DeliveryStatus.SENT, DeliveryStatus.UNKNOWN)


def envelope_domain(from_address):
    """The domain of the envelope sender: BOUNCE_DOMAIN, else the From address's domain (what
    SPF is checked against: the domain check page reads it here too)."""
    return settings.BOUNCE_DOMAIN or from_address.rpartition("@")[2]


def return_path(delivery_id, from_address):
    """The envelope sender (MAIL FROM) of one delivery: its VERP bounce address on
    ``envelope_domain``. The From header stays the sender's."""
    domain = envelope_domain(from_address)
    return verp.bounce_address(delivery_id, domain) if domain else from_address


# The metadata key of the delivery token in a provider's events (mailings/webhooks.py).
TOKEN_METADATA_KEY = "mailing_token"


def relay_headers(delivery_id):
    """Header lines (CRLF-ended text) that hand the delivery token to the provider named by
    EMAIL_RELAY_PROVIDER, which echoes it back in its webhook events as metadata: a relay
    puts its own Return-Path on the message, so the VERP address never comes back from it.
    Mailgun reads ``X-Mailgun-Variables`` (JSON), Postmark ``X-PM-Metadata-<key>``; both
    strip them before delivery. Empty when no provider relays our mail."""
    provider = settings.EMAIL_RELAY_PROVIDER
    if not provider:
        return ""
    token = verp.make_token(delivery_id)
    if provider == "mailgun":
        return f'X-Mailgun-Variables: {{"{TOKEN_METADATA_KEY}": "{token}"}}\r\n'
    return f"X-PM-Metadata-{TOKEN_METADATA_KEY}: {token}\r\n"


@dataclass(frozen=True)
class Outcome:
    """What a report did, for the intake's log and reply."""

    kind: str  # "hard", "soft", "complaint", "ignored"
    delivery_id: int | None = None
    changed: bool = False


def handle_report(raw_bytes, envelope_recipient=None):
    """Read one report (complaint first, then bounce) and apply it to its delivery."""
    complaint = arf.parse(raw_bytes)
    if complaint is not None:
        return apply_complaint(complaint.token)
    report = bounces.parse(raw_bytes, envelope_recipient)
    if report.kind != "bounce" or not report.failures:
        return Outcome("ignored")
    return apply_failures(report.token, report.failures)


def apply_complaint(token):
    """A complaint about the delivery the (unchecked) token names. Intakes that get the
    report already read (a provider's webhook) call this and ``apply_failures`` directly."""
    delivery = _delivery_for(token)
    if delivery is None:
        return Outcome("ignored")
    return _announced(delivery, Outcome("complaint", delivery.pk, _complained(delivery)))


def apply_failures(token, failures):
    """A bounce (``lib.bounces.Failure`` per recipient, hard or soft) of the token's delivery."""
    delivery = _delivery_for(token)
    if delivery is None:
        return Outcome("ignored")
    failure = _failure_for(delivery, failures)
    if failure.severity == bounces.HARD:
        return _announced(delivery, Outcome("hard", delivery.pk, _bounced(delivery, failure)))
    return Outcome("soft", delivery.pk, _soft_bounced(delivery, failure))


def _announced(delivery, outcome):
    """A changed delivery changes its mailing's figures: the statistics caches move on."""
    if outcome.changed:
        figures_changed.send(sender=Delivery, mailing_id=delivery.attempt.mailing_id)
    return outcome


def _delivery_for(token):
    """The delivery a token was made for, or None when it is missing, forged or unknown."""
    try:
        delivery_id = verp.delivery_id_from_token(token)
    except verp.BadToken:
        logger.info("report without a valid bounce token ignored")
        return None
    delivery = Delivery.objects.select_related("attempt__mailing").filter(pk=delivery_id).first()
    if delivery is None:
        logger.info("report for delivery %s, which no longer exists, ignored", delivery_id)
    return delivery


def _failure_for(delivery, failures):
    """The failure about this delivery's address (a report may list several), else the first."""
    address = delivery.email.lower()
    return next((failure for failure in failures if failure.recipient.lower() == address), failures[0])


def _owner_id(delivery):
    return delivery.attempt.mailing.owner_id


def _bounced(delivery, failure):
    """Hard bounce: the delivery is 'bounced' with the remote server's words; the address is
    suppressed for its owner."""
    words = " ".join(part for part in (failure.status, failure.diagnostic) if part)
    with transaction.atomic():
        # rollup.change_status: the run's counts follow the row in this transaction.
        changed = rollup.change_status(
            Delivery.objects.filter(pk=delivery.pk, status__in=REPORTABLE),
            DeliveryStatus.BOUNCED, smtp_response=words or delivery.smtp_response,
        )
        if changed:  # a replay does not put back an address its owner has since let through
            suppress(_owner_id(delivery), delivery.email, SuppressionReason.BOUNCED)
            SoftBounces.objects.filter(owner_id=_owner_id(delivery), email__iexact=delivery.email).delete()
    return changed


def _complained(delivery):
    """Spam complaint: the delivery is 'complained'; the address is suppressed."""
    with transaction.atomic():
        changed = rollup.change_status(
            Delivery.objects.filter(pk=delivery.pk, status__in=(*REPORTABLE, DeliveryStatus.BOUNCED)),
            DeliveryStatus.COMPLAINED,
        )
        if changed:
            suppress(_owner_id(delivery), delivery.email, SuppressionReason.COMPLAINED)
    return changed


def _soft_bounced(delivery, failure):
    """One more soft bounce in a row for the address; suppressed at SOFT_BOUNCE_LIMIT.

    Each delivery counts once, in order: a replayed report, or one about a message older than
    the last one counted, changes nothing. A message to the
    address sent after the last soft-bounced one that has not bounced ends the streak.
    """
    owner_id, email = _owner_id(delivery), Client.normalize_email(delivery.email)
    with transaction.atomic():
        streak = _streak_for(owner_id, email, delivery.pk)
        if delivery.pk <= streak.last_delivery_id:
            return False
        if _delivered_since(owner_id, email, streak.last_delivery_id, delivery.pk):
            streak.in_a_row = 0
        streak.in_a_row += 1
        streak.last_delivery_id = delivery.pk
        streak.diagnostic = " ".join(part for part in (failure.status, failure.diagnostic) if part)
        streak.save()
        if streak.in_a_row >= settings.SOFT_BOUNCE_LIMIT:
            suppress(owner_id, email, SuppressionReason.BOUNCED)
    return True


def _streak_for(owner_id, email, delivery_id):
    """The address's soft-bounce row, locked for this transaction (created at 0 if new)."""
    rows = SoftBounces.objects.select_for_update().annotate(address=Lower("email"))
    streak = rows.filter(owner_id=owner_id, address=email.lower()).first()
    if streak is not None:
        return streak
    try:
        with transaction.atomic():
            return SoftBounces.objects.create(owner_id=owner_id, email=email, in_a_row=0, last_delivery_id=0)
    except IntegrityError:  # another intake created it at the same moment
        return rows.get(owner_id=owner_id, address=email.lower())


def _delivered_since(owner_id, email, after_id, before_id):
    """Whether a message to the address went out between two soft-bounced deliveries and
    did not bounce (the streak is broken)."""
    if not after_id:
        return False
    return Delivery.objects.filter(
        attempt__mailing__owner_id=owner_id, email__iexact=email, status=DeliveryStatus.SENT,
        pk__gt=after_id, pk__lt=before_id,
    ).exists()


def describe(outcome):
    """One log line about a handled report."""
    if outcome.delivery_id is None:
        return "ignored"
    return f"{outcome.kind} for delivery {outcome.delivery_id}" + ("" if outcome.changed else " (no change)")

