"""Reading feedback-loop reports (ARF, RFC 5965): a recipient pressed "this is spam".

``parse(message_bytes)`` returns a ``Complaint`` for a multipart/report with
report-type=feedback-report, else None. The complained-about recipient is the report's
Original-Rcpt-To, else the To of the original message the provider sent back; the VERP
token is read from the original message's Return-Path (or any header carrying our bounce
address), since that is the one thing that ties the complaint to one delivery.
"""
import email
import email.policy
import re
from dataclasses import dataclass

from lib import verp

ADDRESS_PATTERN = re.compile(r"[\w.+'=-]+@[\w-]+(\.[\w-]+)+")
ORIGINAL_HEADERS = ("Return-Path", "X-Original-Return-Path", "Sender", "Errors-To", "To")


@dataclass(frozen=True)
class Complaint:
    feedback_type: str  # "abuse", "opt-out", "auth-failure", …
    recipient: str  # the original recipient who complained ("" when the provider redacted it)
    token: str | None = None  # VERP token of the original message, not yet checked
    user_agent: str = ""
    count: int = 1  # reports aggregated into this one message (Incidents)


def parse(message_bytes):
    message = email.message_from_bytes(message_bytes, policy=email.policy.compat32)
    if not _is_feedback_report(message):
        return None
    report, original = _report_and_original(message)
    if report is None:
        return None
    recipient = _first_address(report.get("Original-Rcpt-To", "")) or (
        _first_address(original.get("To", "")) if original is not None else "")
    incidents = str(report.get("Incidents", "1")).strip()
    return Complaint(
        feedback_type=str(report.get("Feedback-Type", "")).strip().lower(),
        recipient=recipient,
        token=_token(original) if original is not None else None,
        user_agent=" ".join(str(report.get("User-Agent", "")).split()),
        count=int(incidents) if incidents.isdigit() and int(incidents) > 0 else 1,
    )


def _is_feedback_report(message):
    return (message.get_content_type() == "multipart/report"
            and message.get_param("report-type", "").lower() == "feedback-report")


def _report_and_original(message):
    report = original = None
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/feedback-report" and report is None:
            report = _fields(part)
        elif content_type in ("message/rfc822", "text/rfc822-headers") and original is None:
            original = _embedded_message(part)
    return report, original


def _fields(part):
    """The report's fields (a header block), whether the parser made it a message or text."""
    payload = part.get_payload()
    if isinstance(payload, list):
        fields = email.message.Message()
        for block in payload:
            for name, value in block.items():
                fields[name] = value
        return fields
    return email.message_from_string(payload if isinstance(payload, str) else "")


def _embedded_message(part):
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return payload[0]
    raw = part.get_payload(decode=True) or b""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _token(original):
    for name in ORIGINAL_HEADERS:
        for value in original.get_all(name, []):
            for address in ADDRESS_PATTERN.finditer(str(value)):
                token = verp.token_from_address(address.group(0))
                if token:
                    return token
    return None


def _first_address(value):
    match = ADDRESS_PATTERN.search(str(value or ""))
    return match.group(0).lower() if match else ""
