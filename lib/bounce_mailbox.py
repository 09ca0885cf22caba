"""The settings of the bounce mailbox the worker polls over IMAP (``settings.BOUNCE_MAILBOX``,
read from BOUNCE_IMAP_* by ``config.env.bounce_mailbox``; used by mailings/intake_imap.py)."""
from dataclasses import dataclass, field

from lib.bounces import MAX_REPORT_BYTES


@dataclass(frozen=True)
class BounceMailbox:
    """Where the worker polls for bounces and complaints (mailings/intake_imap.py)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)  # never in a repr, a log line or a debug page
    folder: str = "INBOX"
    security: str = "ssl"  # "ssl" (implicit TLS, 993), "starttls" (143) or "none" (loopback only)
    poll_minutes: int = 1
    timeout: float = 30.0
    batch: int = 200  # messages read per poll at most; the rest wait for the next one
    unreadable_folder: str = "Unreadable"
    max_message_bytes: int = MAX_REPORT_BYTES  # as the SMTP intake
