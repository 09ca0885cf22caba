"""The bounce mailbox: the worker polls it over IMAP (imap-tools) and hands each message to
``mailings.bounces.handle_report``, the same rule the SMTP intake (mailings/intake.py) uses.

For a bounce domain whose mail lands in an ordinary mailbox (a hosted domain, the local
MTA's maildir) instead of at ``manage.py bounce_server``. Configured by BOUNCE_IMAP_*
(``settings.BOUNCE_MAILBOX``, see docs/deliverability.md); the django-q2 schedule that
calls ``poll`` exists only while it is configured (``mailings.dispatch``).

Each message is handled first and removed after (process, then delete): a poll killed in
between leaves the message in place, and the next poll hands it to ``handle_report`` again,
which changes nothing the second time (a delivery is bounced or complained once, and a soft
bounce counts once per delivery). The other order, delete then handle, would lose the
report for good. Handled messages are deleted, not moved: what they did is recorded on the
delivery (status and the server's words), and a mailbox that only grows slows every poll.
A message that cannot be read (bigger than a report can be, or one the parser chokes on)
is moved to BOUNCE_IMAP_UNREADABLE_FOLDER for a person to look at, so it never blocks the
messages behind it. A database error stops the poll and leaves the message where it is
for the next one. A connection or login failure is logged; the next poll tries again.
"""
import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass, field

from django.db import Error as DatabaseFailure
from django.db import close_old_connections, connection
from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError, MailboxFetchError
from imap_tools.utils import check_command_status

from mailings.bounces import describe, handle_report

logger = logging.getLogger(__name__)

CLIENTS = {"ssl": MailBox, "starttls": MailBoxStartTls, "none": MailBoxUnencrypted}
# What a broken, refused, timed-out or rejected connection raises.
CONNECTION_ERRORS = (OSError, socket.timeout, ssl.SSLError, imaplib.IMAP4.error, ImapToolsError, EOFError)
UID_FIELD = re.compile(rb"\bUID (\d+)")
SIZE_FIELD = re.compile(rb"\bRFC822\.SIZE (\d+)")


@dataclass
class PollResult:
    """What one poll did (for the log, the command's output and the tests)."""

    handled: int = 0  # messages given to handle_report and deleted
    changed: int = 0  # of those, the ones that changed a delivery
    unreadable: int = 0  # moved to the unreadable folder
    left: int = 0  # more messages than one poll reads: left for the next
    error: str = ""  # why the poll stopped early ("" when it did not)
    outcomes: list = field(default_factory=list)

    def summary(self):
        text = (f"{self.handled} handled ({self.changed} changed a delivery), "
                f"{self.unreadable} moved aside as unreadable, {self.left} left for the next poll")
        return f"{text}; stopped: {self.error}" if self.error else text


def poll(mailbox):
    """Read the bounce mailbox once (``mailbox``: a ``lib.bounce_mailbox.BounceMailbox``); never raises
    for a failure of the server, the network or a message."""
    result = PollResult()
    if not connection.in_atomic_block:  # a broken connection, or one past CONN_MAX_AGE, is replaced
        close_old_connections()
    try:
        with _connect(mailbox) as client:
            _poll_folder(client, mailbox, result)
    except CONNECTION_ERRORS as error:
        result.error = f"{type(error).__name__}: {error}"
        logger.warning("bounce mailbox %s@%s:%s: %s; trying again at the next poll",
                       mailbox.user, mailbox.host, mailbox.port, result.error)
    except DatabaseFailure as error:
        result.error = f"database: {error}"
        logger.warning("bounce mailbox: the database failed (%s); the message stays for the next poll", error)
    logger.info("bounce mailbox: %s", result.summary())
    return result


def _connect(mailbox):
    client_class = CLIENTS[mailbox.security]
    client = client_class(host=mailbox.host, port=mailbox.port, timeout=mailbox.timeout)
    return client.login(mailbox.user, mailbox.password, initial_folder=mailbox.folder)


def _poll_folder(client, mailbox, result):
    # Oldest first; only the UID and the size are read here, not the messages.
    uids = client.uids("ALL")
    result.left = max(0, len(uids) - mailbox.batch)
    for uid, size in _sizes(client, uids[:mailbox.batch]):
        if size > mailbox.max_message_bytes:
            _move_aside(client, mailbox, uid, f"{size} bytes, more than a report can be")
            result.unreadable += 1
            continue
        raw = _fetch(client, uid)
        if raw is None:
            continue  # removed meanwhile (another poll, a person)
        try:
            outcome = handle_report(raw)
        except DatabaseFailure:
            raise  # not the message's fault: it stays for the next poll
        except Exception:  # a message the parser cannot read must not stop the ones behind it
            logger.exception("bounce mailbox: message %s could not be read", uid)
            _move_aside(client, mailbox, uid, "the parser failed on it")
            result.unreadable += 1
            continue
        client.delete([uid])
        result.handled += 1
        result.changed += outcome.changed
        result.outcomes.append(outcome)
        logger.info("bounce mailbox: %s (message %s)", describe(outcome), uid)


def _sizes(client, uids):
    """(uid, RFC822.SIZE) of each message, in one FETCH."""
    if not uids:
        return []
    response = client.client.uid("FETCH", ",".join(uids), "(UID RFC822.SIZE)")
    check_command_status(response, MailboxFetchError)
    sizes = {}
    for item in response[1]:  # b"<seq> (UID 7 RFC822.SIZE 1234)"
        text = item if isinstance(item, bytes) else b""
        uid, size = UID_FIELD.search(text), SIZE_FIELD.search(text)
        if uid and size:
            sizes[uid.group(1).decode()] = int(size.group(1))
    return [(uid, sizes[uid]) for uid in uids if uid in sizes]


def _fetch(client, uid):
    """The message's bytes as stored, without marking it seen; None when it is gone."""
    response = client.client.uid("FETCH", uid, "(BODY.PEEK[])")
    check_command_status(response, MailboxFetchError)
    for item in response[1]:
        if isinstance(item, tuple):
            return item[1]
    return None


def _move_aside(client, mailbox, uid, reason):
    logger.warning("bounce mailbox: message %s moved to %r: %s", uid, mailbox.unreadable_folder, reason)
    if not client.folder.exists(mailbox.unreadable_folder):
        client.folder.create(mailbox.unreadable_folder)
    client.move([uid], mailbox.unreadable_folder)
