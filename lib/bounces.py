"""Reading bounce messages: who failed, why, hard or soft, and which delivery it was.

``parse(message_bytes, envelope_recipient=None)`` takes a message that came back to a
bounce address and returns a ``Report``:

- ``kind``: "bounce" (delivery failed or is delayed), "delivered" (a positive DSN),
  "auto-reply" (vacation and out-of-office replies, RFC 3834) or "unknown";
- ``failures``: one ``Failure`` per recipient: address, ``severity`` "hard" or "soft", the
  enhanced status (RFC 3463) and the remote server's diagnostic;
- ``token``: the VERP token of the bounce address (lib/verp.py checks it), found in the
  envelope recipient the bounce server saw, else in the headers that carry it.

Standard DSNs (RFC 3464, multipart/report) are read field by field with the ``email``
package. The many non-standard formats (qmail, old Exim, Exchange, Yahoo…) are left to
flufl.bounce (GNU Mailman's detectors) to find the failed addresses; the reason is then
read from the human-readable text.

Hard means the address itself is dead (no such user, no such domain, moved): the
address should be suppressed. Everything else — a full mailbox, a spam filter, a block
of our server, an expired message — is soft, because the address may take other mail.
This is the line Sisimai draws too, which lets its corpus check us (docs/deliverability.md).
"""
import email
import email.policy
import logging
import re
from dataclasses import dataclass, field

from flufl.bounce import all_failures

from lib import verp

logger = logging.getLogger(__name__)

# A report quotes the original message; bigger is not a report (every intake refuses it unread).
MAX_REPORT_BYTES = 10 * 1024 * 1024

HARD, SOFT = "hard", "soft"

# Read first: words that say the problem is not the address, whatever the status code says
# (servers answer "550 5.1.1" for a full mailbox more often than one would hope).
SOFT_TEXT = re.compile(
    r"mailbox (is )?full|quota|over ?quota|insufficient (disk )?space|storage|exceed|too (large|big|many)"
    r"|spam|blocked|block ?list|blacklist|dnsbl|spamhaus|reputation|policy|reject(ed)? (by|due)"
    r"|rate limit|throttl|try again|temporar|timed? ?out|expired|retry time|could not be delivered within"
    r"|virus|content|authentica|dmarc|spf|dkim|ptr|reverse (dns|lookup)|relay(ing)? (denied|not)"
    r"|suspended|disabled|inactive|deactivated|frozen|locked|on hold",
    re.IGNORECASE,
)
# Then: words that say the address (or its domain) does not exist.
HARD_TEXT = re.compile(
    r"user ?unknown|unknown (user|recipient|address|mailbox|local.?part)|no such (user|mailbox|recipient|address|account|person)"
    r"|(user|mailbox|address|recipient|account)( name)? (does not|doesn.t|did not) exist|does not exist"
    r"|(mailbox|user|recipient|address)( is)? (not found|unavailable|invalid)|invalid (recipient|mailbox|address|user)"
    r"|not our customer|no mailbox|mailbox not|unrouteable address|unknown or illegal alias|account does not"
    r"|host (or domain name )?not found|host unknown|domain (not found|does not exist)|no (mx|mail exchanger)"
    r"|name service error|unrouteable mail domain|nxdomain|has moved|no longer (valid|available|in use)"
    r"|recipient address rejected: (user unknown|undeliverable)|undeliverable address",
    re.IGNORECASE,
)
# Enhanced status codes (RFC 3463) that mean "no such address": bad mailbox, bad system,
# bad mailbox syntax, moved, null MX (RFC 7505).
HARD_STATUSES = {"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.0.912"}
STATUS_PATTERN = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
AUTO_REPLY_SUBJECT = re.compile(r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|vacation|abwesen)", re.I)
ORIGINAL_MESSAGE_MARKERS = re.compile(
    r"^(-+ ?(original message|below this line|this is a copy|the header|undelivered message)"
    r"|-+ ?original message follows|content-type: message/rfc822|return-path: )",
    re.IGNORECASE | re.MULTILINE,
)
ADDRESS_PATTERN = re.compile(r"[\w.+'=-]+@[\w-]+(\.[\w-]+)+")
MAX_DIAGNOSTIC = 500  # characters kept of a remote server's explanation
ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To")


@dataclass(frozen=True)
class Failure:
    recipient: str
    severity: str  # HARD or SOFT
    status: str = ""  # enhanced status code, e.g. "5.1.1"
    diagnostic: str = ""  # what the remote server said


@dataclass(frozen=True)
class Report:
    kind: str  # "bounce", "delivered", "auto-reply" or "unknown"
    failures: tuple = field(default_factory=tuple)
    token: str | None = None  # VERP token, not yet checked (lib.verp.delivery_id_from_token)


def parse(message_bytes, envelope_recipient=None):
    message = email.message_from_bytes(message_bytes, policy=email.policy.compat32)
    token = find_token(message, envelope_recipient)
    report = _delivery_status_report(message)
    if report is not None:
        return Report(report[0], report[1], token)
    failures = _non_standard_failures(message)
    if failures:
        return Report("bounce", failures, token)  # Exim marks its bounces "auto-replied" too
    return Report("auto-reply" if is_auto_reply(message) else "unknown", (), token)


def classify(status, diagnostic, action="failed"):
    """HARD or SOFT for one recipient, from its enhanced status and the server's words: the
    one rule of every intake (bounce messages here, provider events in mailings/webhooks.py).
    ``action`` is the report's verdict: "failed" (permanent) or "delayed" (temporary)."""
    text = diagnostic or ""
    if SOFT_TEXT.search(text):
        return SOFT
    if HARD_TEXT.search(text):
        return HARD
    if action == "delayed":
        return SOFT
    return HARD if status in HARD_STATUSES else SOFT


def find_token(message, envelope_recipient=None):
    """The VERP token the bounce was addressed to: the envelope first, then the headers."""
    candidates = [envelope_recipient] + [value for name in ENVELOPE_HEADERS for value in message.get_all(name, [])]
    for candidate in candidates:
        for address in ADDRESS_PATTERN.finditer(str(candidate or "")):
            token = verp.token_from_address(address.group(0))
            if token:
                return token
    return None


def is_auto_reply(message):
    auto_submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted.startswith("auto-replied"):
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    return bool(AUTO_REPLY_SUBJECT.match(_header_text(message.get("Subject", ""))))


def _delivery_status_report(message):
    """(kind, failures) of an RFC 3464 report, or None when the message carries none."""
    for part in message.walk():
        if part.get_content_type() not in ("message/delivery-status", "message/global-delivery-status"):
            continue
        blocks = _status_blocks(part)
        recipients = [block for block in blocks if block.get("Final-Recipient") or block.get("Original-Recipient")]
        if not recipients:
            continue
        fallback_text = _human_text(message)
        failures, delivered = [], 0
        for block in recipients:
            action = str(block.get("Action", "failed")).strip().lower()
            if action in ("delivered", "relayed", "expanded"):
                delivered += 1
                continue
            address = _address_of(block.get("Final-Recipient") or block.get("Original-Recipient"))
            status = status_of(str(block.get("Status", "")))
            diagnostic = _unfold(block.get("Diagnostic-Code", "")).partition(";")[2].strip() or _recipient_text(
                fallback_text, address)
            failures.append(Failure(address, classify(status, diagnostic, action), status, diagnostic[:MAX_DIAGNOSTIC]))
        if failures:
            return "bounce", tuple(failures)
        if delivered:
            return "delivered", ()
    return None


def _status_blocks(part):
    """The per-message and per-recipient field blocks of a delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return payload
    # Some servers label the part but send it as text; read the blocks ourselves.
    text = payload if isinstance(payload, str) else ""
    return [email.message_from_string(block.strip() + "\n") for block in re.split(r"\r?\n\s*\r?\n", text) if block.strip()]


def _non_standard_failures(message):
    temporary, permanent = _flufl_failures(message)
    text = _human_text(message)
    failures = []
    for raw, is_permanent in [(a, True) for a in sorted(permanent)] + [(a, False) for a in sorted(temporary - permanent)]:
        address = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        diagnostic = _recipient_text(text, address)
        status = status_of(diagnostic)
        severity = classify(status, diagnostic, "failed" if is_permanent else "delayed")
        failures.append(Failure(address.lower(), severity, status, diagnostic[:MAX_DIAGNOSTIC]))
    return tuple(failures)


def _flufl_failures(message):
    """flufl.bounce's (temporary, permanent) addresses; nothing found if a detector breaks.

    Its Yale detector raises IndexError on a message without a From header, and
    ``all_failures`` re-raises whatever a detector raises, which would end the detectors
    listed after it: such a message is read as if it came from the mailer daemon.
    """
    borrowed_from = message.get("From") is None
    if borrowed_from:
        message["From"] = "MAILER-DAEMON"
    try:
        return all_failures(message)
    except Exception:  # a detector's bug must not stop the intake: the message is unclassified
        logger.warning("flufl.bounce failed on a message", exc_info=True)
        return frozenset(), frozenset()
    finally:
        if borrowed_from:
            del message["From"]


def _human_text(message):
    """The bounce's own words: its text parts, cut before the copy of the original message."""
    texts = []
    for part in message.walk():
        if part.get_content_maintype() == "message":
            break  # the original message starts here
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True) or b""
            texts.append(_decoded(payload, part.get_content_charset()))
    text = "\n".join(texts)
    marker = ORIGINAL_MESSAGE_MARKERS.search(text)
    return text[:marker.start()] if marker else text


def _decoded(payload, charset):
    """Text of a part; a charset Python does not know (mislabelled, garbled) reads as UTF-8."""
    try:
        return payload.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):  # ValueError: a NUL inside the charset's name
        return payload.decode("utf-8", "replace")


def _recipient_text(text, address):
    """The lines about one recipient (its paragraph and the next), else the whole text."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    for index, paragraph in enumerate(paragraphs):
        if address and address.lower() in paragraph.lower():
            return _unfold(" ".join(paragraphs[index:index + 2]))
    return _unfold(text)


def status_of(text):
    """The first enhanced status code (RFC 3463) in ``text``, e.g. "5.1.1"; "" when none."""
    match = STATUS_PATTERN.search(text or "")
    return ".".join(match.groups()) if match else ""


def _address_of(field_value):
    """'rfc822; a@b' → 'a@b' (the address type is optional in practice)."""
    value = _unfold(field_value).partition(";")[2] or _unfold(field_value)
    return value.strip().strip("<>").lower()


def _unfold(value):
    return " ".join(str(value or "").split())


def _header_text(value):
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except (UnicodeError, LookupError, email.errors.HeaderParseError):
        return str(value)
