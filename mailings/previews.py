"""A message as one recipient will receive it: built by the sending code, then read back.

The preview is not an imitation of the e-mail: ``rendering.PreparedMessage.build`` makes the
very bytes a run would send, and the standard e-mail parser reads back the subject, the HTML
part and the plain-text part. So what the owner sees is what arrives.
"""
import email
from dataclasses import dataclass
from email import policy
from email.utils import format_datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from lib.sanitize import sanitize_html
from mailings.rendering import PreparedMessage, Recipient

PREVIEW_RUN_ID = 0  # no run: the Message-ID of a preview names run 0


@dataclass
class Preview:
    to: str
    subject: str
    html: str
    text: str


def sample_recipient():
    """Who a preview is addressed to when no client is chosen."""
    return Recipient(delivery_id=0, client_id=None, email="ivan.petrov@example.com",
                     full_name=_("Ivan Petrov"), unsubscribed=False, tries=0)


def recipient_for(client):
    return Recipient(delivery_id=0, client_id=client.pk, email=client.email, full_name=client.full_name,
                     unsubscribed=client.unsubscribed_at is not None, tries=0)


def preview_message(*, subject, body, recipient):
    """The message ``subject``/``body`` (unsaved text is fine) as ``recipient`` receives it."""
    prepared = PreparedMessage(
        subject=subject, body=sanitize_html(body), from_email=settings.DEFAULT_FROM_EMAIL,
        site_url=settings.SITE_URL, run_id=PREVIEW_RUN_ID,
    )
    raw = prepared.build(recipient, format_datetime(timezone.now()))
    parsed = email.message_from_bytes(raw, policy=policy.default)
    return Preview(
        to=str(parsed["To"]),
        subject=str(parsed["Subject"]),
        html=parsed.get_body(preferencelist=("html",)).get_content(),
        text=parsed.get_body(preferencelist=("plain",)).get_content(),
    )
