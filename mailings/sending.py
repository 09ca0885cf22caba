"""Build mailing messages and deliver a run over SMTP (design §5, invariants 2-8).

One run (``Attempt``) is delivered batch by batch. Each batch of ``Delivery`` rows is
claimed with a conditional UPDATE (pending -> sending) before any SMTP call, so two workers
never send the same row, and rows a killed worker left in 'sending' are recorded as
'unknown' instead of being sent twice. Results are written back per batch (few queries),
over one SMTP connection reused for the batch, with ``EMAIL_TIMEOUT`` on every call.

Failures are classified like healthchecks' transports: ``TransportError(permanent=...)``.
Permanent (5xx) replies fail the recipient; temporary ones (4xx, timeout, refused,
disconnect) are retried later with backoff; after ``MAILING_CONNECT_RETRIES`` connection
failures in a row the run pauses instead of hammering a dead server.
"""
import base64
import datetime
import html
import logging
import re
import smtplib
import socket
import ssl
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import Count, F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from mailings import scheduling
from mailings.models import Attempt, AttemptStatus, Delivery, DeliveryStatus

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "mailings.unsubscribe"
FLUSH_EVERY = 2.0  # seconds: results and heartbeat are written at least this often


# --- Errors -----------------------------------------------------------------------------


class TransportError(Exception):
    """A send that did not succeed, with what the server (or the network) said.

    ``permanent``: retrying cannot help (5xx). ``connection``: the SMTP session is unusable
    and must be reopened. ``maybe_delivered``: the whole message reached the server but its
    verdict never came back (timeout after the final dot): it may have been accepted, so it
    is recorded as 'unknown' and never resent.
    """

    def __init__(self, message, *, permanent=False, code=None, connection=False, maybe_delivered=False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.connection = connection
        self.maybe_delivered = maybe_delivered

    @property
    def reply(self):
        return f"{self.code} {self.message}" if self.code else self.message


def _text(response):
    if isinstance(response, bytes):
        return response.decode("utf-8", "replace")
    return str(response)


def reply_error(code, response, step):
    """TransportError for an SMTP reply that is not the expected success."""
    text = _text(response).strip() or _("(empty reply)")
    if code == -1 or code is None:
        return TransportError(
            _("Unintelligible reply to %(step)s: %(text)s") % {"step": step, "text": text[:300]},
            connection=True,
        )
    return TransportError(text, code=code, permanent=500 <= code < 600, connection=code == 421)


def _is_timeout(exc):
    # smtplib turns a timeout while reading a reply into SMTPServerDisconnected; the
    # original socket timeout stays in the exception's context.
    return isinstance(exc, (socket.timeout, TimeoutError)) or isinstance(
        exc.__context__, (socket.timeout, TimeoutError)
    )


def network_error(exc, step, *, payload_sent=False):
    """TransportError for a timeout, refusal or disconnect."""
    if _is_timeout(exc):
        if payload_sent:
            text = _("Timed out waiting for the server's verdict after the message was sent")
            return TransportError(text, connection=True, maybe_delivered=True)
        text = _("Timed out during %(step)s") % {"step": step}
    elif isinstance(exc, ConnectionRefusedError):
        text = _("Connection refused")
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        text = _("The server closed the connection during %(step)s") % {"step": step}
    else:
        text = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    return TransportError(text, connection=True)


# --- Messages ---------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{\{\s*(full_name|email|unsubscribe_url)\s*\}\}")
BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(p|div|h[1-6]|li|tr|blockquote)>")
TAG = re.compile(r"<[^>]+>")
LINK = re.compile(r'(?is)<a\s[^>]*href="([^"]+)"[^>]*>(.*?)</a>')


def html_to_text(body):
    """A readable plain-text part derived from the message's sanitised HTML."""
    text = LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(1) != m.group(2) else m.group(2), body)
    text = re.sub(r"(?i)<li[^>]*>", "- ", text)
    text = BLOCK_END.sub("\n", text)
    text = html.unescape(TAG.sub("", text))
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class Template:
    """A text split once around its placeholders; ``render`` is a join, no parsing."""

    def __init__(self, text):
        self.parts = PLACEHOLDER.split(text)

    def render(self, values):
        parts = self.parts[:]
        for index in range(1, len(parts), 2):
            parts[index] = values[parts[index]]
        return "".join(parts)


def _encode_header(value):
    if value.isascii():
        return value
    return Header(value, "utf-8").encode()


def _base64_lines(text):
    return base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")


def unsubscribe_token(client_id):
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(client_id))


def client_id_from_token(token):
    """The client id a token was made for; raises signing.BadSignature when forged."""
    value = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token)
    if not value.isdigit():
        raise signing.BadSignature("not a client id")
    return int(value)


@dataclass
class Recipient:
    delivery_id: int
    client_id: int | None
    email: str
    full_name: str
    unsubscribed: bool
    tries: int


class PreparedMessage:
    """A mailing's message rendered once per run; ``build`` specialises it per recipient."""

    def __init__(self, *, subject, body, from_email, site_url, run_id):
        footer_html = _('<p style="color:#888;font-size:12px">You receive this because you are on our list. '
                        '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>')
        footer_text = _("To unsubscribe, open: {{ unsubscribe_url }}")
        self.subject = Template(subject)
        self.html = Template(f"<!DOCTYPE html><html><body>{body}{footer_html}</body></html>")
        self.text = Template(f"{html_to_text(body)}\n\n--\n{footer_text}\n")
        name, address = parseaddr(from_email)
        self.from_address = address
        self.from_header = formataddr((name, address), charset="utf-8")
        self.domain = address.rpartition("@")[2] or "localhost"
        self.unsubscribe_prefix = site_url + reverse("unsubscribe", args=["TOKEN"]).replace("TOKEN/", "")
        self.run_id = run_id
        self.boundary = f"=_{uuid.uuid4().hex}"

    @classmethod
    def for_attempt(cls, attempt):
        message = attempt.mailing.message
        return cls(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            site_url=settings.SITE_URL,
            run_id=attempt.pk,
        )

    def unsubscribe_url(self, client_id):
        return f"{self.unsubscribe_prefix}{unsubscribe_token(client_id or 0)}/"

    def build(self, recipient, date):
        """The message bytes for one recipient (CRLF line ends, ready for DATA)."""
        url = self.unsubscribe_url(recipient.client_id)
        raw = {"full_name": recipient.full_name, "email": recipient.email, "unsubscribe_url": url}
        escaped = {key: html.escape(value) for key, value in raw.items()}
        subject = " ".join(self.subject.render(raw).split())
        to = formataddr((recipient.full_name, recipient.email), charset="utf-8")
        boundary = self.boundary
        head = (
            f"From: {self.from_header}\r\n"
            f"To: {to}\r\n"
            f"Subject: {_encode_header(subject)}\r\n"
            f"Date: {date}\r\n"
            f"Message-ID: <run{self.run_id}.{recipient.delivery_id}@{self.domain}>\r\n"
            f"List-Unsubscribe: <{url}>\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            "Precedence: bulk\r\n"
            "MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
            "\r\n"
            f"--{boundary}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode("ascii")
        middle = (
            f"--{boundary}\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode("ascii")
        tail = f"--{boundary}--\r\n".encode("ascii")
        return b"".join(
            (head, _base64_lines(self.text.render(raw)), middle,
             _base64_lines(self.html.render(escaped)), tail)
        )


# --- SMTP -------------------------------------------------------------------------------


class SMTPTransport:
    """One SMTP session, opened lazily and reused; every call has ``EMAIL_TIMEOUT``."""

    def __init__(self, *, host, port, timeout, username="", password="", use_tls=False, use_ssl=False):
        self.host, self.port, self.timeout = host, port, timeout
        self.username, self.password = username, password
        self.use_tls, self.use_ssl = use_tls, use_ssl
        self.smtp = None

    @classmethod
    def from_settings(cls):
        return cls(
            host=settings.EMAIL_HOST,
            port=settings.EMAIL_PORT,
            timeout=settings.EMAIL_TIMEOUT,
            username=settings.EMAIL_HOST_USER,
            password=settings.EMAIL_HOST_PASSWORD,
            use_tls=settings.EMAIL_USE_TLS,
            use_ssl=settings.EMAIL_USE_SSL,
        )

    def open(self):
        if self.smtp is not None:
            return
        step = _("connect")
        try:
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            step = "EHLO"
            smtp.ehlo()
            if self.use_tls:
                step = "STARTTLS"
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                step = "AUTH"
                smtp.login(self.username, self.password)
        except smtplib.SMTPResponseException as exc:
            raise reply_error(exc.smtp_code, exc.smtp_error, step) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise network_error(exc, step) from exc
        self.smtp = smtp

    def close(self):
        smtp, self.smtp = self.smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def _reset(self):
        try:
            self.smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def send(self, from_address, to_address, data):
        """Send one message; returns the server's (code, reply) or raises TransportError."""
        smtp, step, payload_sent = self.smtp, "MAIL FROM", False
        try:
            code, reply = smtp.mail(from_address)
            if code != 250:
                raise reply_error(code, reply, step)
            step = "RCPT TO"
            code, reply = smtp.rcpt(to_address)
            if code not in (250, 251):
                raise reply_error(code, reply, step)
            step = "DATA"
            code, reply = smtp.docmd("DATA")
            if code != 354:
                raise reply_error(code, reply, step)
            step = _("end of data")
            smtp.send(re.sub(rb"(?m)^\.", b"..", data) + b".\r\n")
            payload_sent = True
            code, reply = smtp.getreply()
            if code != 250:
                raise reply_error(code, reply, step)
            return code, _text(reply)
        except TransportError as error:
            if error.connection:
                self.close()
            else:
                self._reset()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise network_error(exc, step, payload_sent=payload_sent) from exc


class RateLimiter:
    """At most ``rate`` sends per second (0 = unlimited)."""

    def __init__(self, rate, *, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / rate if rate else 0.0
        self.clock, self.sleep = clock, sleep
        self.next_at = 0.0

    def wait(self):
        if not self.interval:
            return
        now = self.clock()
        if now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


# --- Claiming and recording -------------------------------------------------------------


def claim_batch(attempt_id, size):
    """Mark up to ``size`` pending rows 'sending' and return them; [] when none is left.

    On PostgreSQL, SKIP LOCKED gives concurrent claimers disjoint rows; on SQLite the
    write transaction is exclusive. The conditional UPDATE is the final guard either way.
    """
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(attempt_id=attempt_id, status=DeliveryStatus.PENDING)
            .order_by("pk")
            .values_list("pk", "client_id", "email", "client__full_name", "client__unsubscribed_at", "tries")[:size]
        )
        if not rows:
            return []
        ids = [row[0] for row in rows]
        claimed = Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SENDING
        )
        if claimed != len(ids):
            # Someone else claimed some of them between our read and our write: they are
            # theirs now; leaving ours in 'sending' is safe (never sent twice).
            logger.warning("attempt %s: lost a race for a batch; it will be recorded as unknown", attempt_id)
            return []
    return [
        Recipient(pk, client_id, email, full_name or "", unsubscribed is not None, tries)
        for pk, client_id, email, full_name, unsubscribed, tries in rows
    ]


class Results:
    """What happened to the rows of a batch, written back in a few grouped UPDATEs."""

    COUNTERS = {DeliveryStatus.SENT: "sent", DeliveryStatus.FAILED: "failed", DeliveryStatus.UNKNOWN: "unknown"}

    def __init__(self):
        self.rows = {}  # delivery id -> (status, code, reply, tries)
        self.last_reply = ""
        self.failures = Counter()

    def record(self, recipient, status, code=None, reply="", attempted=True):
        tries = recipient.tries + (1 if attempted else 0)
        self.rows[recipient.delivery_id] = (status, code, reply[:2000], tries)
        if status == DeliveryStatus.SENT:
            self.last_reply = f"{code} {reply}"
        elif status in (DeliveryStatus.FAILED, DeliveryStatus.DEFERRED, DeliveryStatus.UNKNOWN):
            self.failures[f"{code} {reply}" if code else reply] += 1

    def record_error(self, recipient, error):
        if error.maybe_delivered:
            status = DeliveryStatus.UNKNOWN
        elif error.permanent or recipient.tries + 1 >= settings.MAILING_MAX_TRIES:
            status = DeliveryStatus.FAILED
        else:
            status = DeliveryStatus.DEFERRED
        self.record(recipient, status, error.code, error.message)

    def flush(self, attempt_id, now):
        """Write the rows and the attempt's counters and heartbeat in one transaction."""
        groups = {}
        for pk, values in self.rows.items():
            groups.setdefault(values, []).append(pk)
        counts = Counter()
        with transaction.atomic():
            if len(groups) <= 8:
                for (status, code, reply, tries), ids in groups.items():
                    counts[status] += len(ids)
                    Delivery.objects.filter(pk__in=ids).update(
                        status=status, smtp_code=code, smtp_response=reply, tries=tries,
                        sent_at=now if status != DeliveryStatus.PENDING else None,
                    )
            else:
                objects = []
                for pk, (status, code, reply, tries) in self.rows.items():
                    counts[status] += 1
                    sent_at = now if status != DeliveryStatus.PENDING else None
                    objects.append(Delivery(pk=pk, status=status, smtp_code=code,
                                            smtp_response=reply, tries=tries, sent_at=sent_at))
                Delivery.objects.bulk_update(
                    objects, ["status", "smtp_code", "smtp_response", "tries", "sent_at"], batch_size=500
                )
            increments = {
                field: F(field) + counts[status] for status, field in self.COUNTERS.items() if counts[status]
            }
            Attempt.objects.filter(pk=attempt_id).update(heartbeat_at=now, **increments)
        self.rows.clear()
        return counts


# --- The run ----------------------------------------------------------------------------


class Paused(Exception):
    """The server kept failing at the connection level; the run pauses."""

    def __init__(self, error):
        super().__init__(error.reply)
        self.error = error


class RunDelivery:
    """Delivers one attempt; instantiated per run (holds the connection and counters)."""

    def __init__(self, attempt, *, now, sleep, progress):
        self.attempt = attempt
        self.now, self.sleep, self.progress = now, sleep, progress
        self.transport = SMTPTransport.from_settings()
        self.message = PreparedMessage.for_attempt(attempt)
        self.limiter = RateLimiter(settings.MAILING_RATE_LIMIT, sleep=sleep)
        self.connection_failures = 0
        self.last_error = None
        self.last_reply = ""
        self.failures = Counter()
        self.owner_name = attempt.mailing.owner.full_name

    def connect(self):
        """Open the session, retrying with backoff; raise Paused after too many failures."""
        while True:
            try:
                self.transport.open()
                return
            except TransportError as error:
                self.failures[error.reply] += 1
                self.note_connection_failure(error)
                self.sleep(settings.MAILING_CONNECT_BACKOFF * 2 ** (self.connection_failures - 1))

    def note_connection_failure(self, error):
        self.connection_failures += 1
        self.last_error = error
        logger.warning("attempt %s: %s (%s in a row)", self.attempt.pk, error.reply, self.connection_failures)
        if self.connection_failures >= settings.MAILING_CONNECT_RETRIES:
            raise Paused(error)

    def send_one(self, recipient, results, date):
        if recipient.client_id is None and not recipient.full_name:
            recipient.full_name = self.owner_name
        if recipient.unsubscribed:
            results.record(recipient, DeliveryStatus.SKIPPED, attempted=False)
            return
        self.connect()
        self.limiter.wait()
        try:
            code, reply = self.transport.send(
                self.message.from_address, recipient.email, self.message.build(recipient, date)
            )
        except TransportError as error:
            results.record_error(recipient, error)
            self.last_error = error
            if error.connection:
                self.note_connection_failure(error)
            else:
                self.connection_failures = 0  # the server answered: it is alive
            return
        self.connection_failures = 0
        results.record(recipient, DeliveryStatus.SENT, code, reply)

    def run_batch(self, batch):
        results = Results()
        date = formatdate(usegmt=True)
        flushed_at = time.monotonic()
        index = 0
        try:
            for index, recipient in enumerate(batch):
                self.send_one(recipient, results, date)
                if time.monotonic() - flushed_at > FLUSH_EVERY:
                    self.flush(results)
                    flushed_at = time.monotonic()
        except Paused:
            for rest in batch[index:]:
                if rest.delivery_id not in results.rows:
                    results.record(rest, DeliveryStatus.PENDING, attempted=False)
            raise
        except BaseException:
            # Unexpected: the row in hand stays 'sending' (it may have gone out) and will be
            # recorded as unknown on resume; the untouched rest go back to pending.
            for rest in batch[index + 1:]:
                results.record(rest, DeliveryStatus.PENDING, attempted=False)
            raise
        finally:
            self.flush(results)

    def flush(self, results):
        if results.last_reply:
            self.last_reply = results.last_reply
        self.failures.update(results.failures)
        results.failures.clear()
        counts = results.flush(self.attempt.pk, self.now())
        if self.progress:
            self.progress(counts)

    def run(self):
        attempt = self.attempt
        try:
            while True:
                reason = scheduling.stop_reason(attempt.mailing_id)
                if reason:
                    return self.stop(reason)
                batch = claim_batch(attempt.pk, settings.MAILING_BATCH_SIZE)
                if not batch:
                    break
                self.run_batch(batch)
        except Paused as paused:
            return self.pause_for_server(paused.error)
        finally:
            self.transport.close()
        return self.end_of_pass()

    def stop(self, reason):
        text = _("Stopped before the next batch: %(reason)s.") % {"reason": reason}
        scheduling.pause_run(attempt=self.attempt, until=None, reason=text, response=self.summary(text))
        logger.info("attempt %s: %s", self.attempt.pk, text)
        return self.attempt

    def pause_for_server(self, error):
        until = self.now() + datetime.timedelta(seconds=settings.MAILING_PAUSE)
        text = _("The mail server failed %(count)s times in a row (%(reply)s); resuming at %(until)s.") % {
            "count": self.connection_failures, "reply": error.reply,
            "until": timezone.localtime(until).strftime("%Y-%m-%d %H:%M:%S"),
        }
        scheduling.pause_run(attempt=self.attempt, until=until, reason=text, response=self.summary(text))
        return self.attempt

    def end_of_pass(self):
        """All rows were tried once: retry temporary failures later, or finish the run."""
        retriable = Delivery.objects.filter(
            attempt=self.attempt, status=DeliveryStatus.DEFERRED, tries__lt=settings.MAILING_MAX_TRIES
        )
        fewest_tries = retriable.order_by("tries").values_list("tries", flat=True).first()
        if fewest_tries is not None:
            delay = settings.MAILING_RETRY_DELAY * 2 ** (fewest_tries - 1)
            until = self.now() + datetime.timedelta(seconds=delay)
            text = _("%(count)s recipients got a temporary failure; retrying at %(until)s.") % {
                "count": retriable.count(), "until": timezone.localtime(until).strftime("%Y-%m-%d %H:%M:%S"),
            }
            scheduling.pause_run(attempt=self.attempt, until=until, reason=text, response=self.summary(text))
            return self.attempt
        return finish(self.attempt, now=self.now(), last_reply=self.last_reply, failures=self.failures)

    def summary(self, headline):
        return describe(headline, self.last_reply, self.failures)


def describe(headline, last_reply, failures):
    """The Attempt's server response: what happened, and the server's own words."""
    lines = [headline] if headline else []
    if last_reply:
        lines.append(_("Last accepted: %(reply)s") % {"reply": last_reply.strip()})
    for reply, count in failures.most_common(5):
        lines.append(f"{reply.strip()} (×{count})")
    return "\n".join(lines)[:2000]


def finish(attempt, *, now, last_reply="", failures=None):
    """Close the run with counts recomputed from its Delivery rows (the truth)."""
    failures = failures or Counter()
    with transaction.atomic():
        Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.DEFERRED).update(
            status=DeliveryStatus.FAILED
        )
        counts = dict(
            Delivery.objects.filter(attempt=attempt).values_list("status").annotate(n=Count("pk"))
        )
        attempt.sent = counts.get(DeliveryStatus.SENT, 0)
        attempt.failed = counts.get(DeliveryStatus.FAILED, 0)
        attempt.unknown = counts.get(DeliveryStatus.UNKNOWN, 0)
        attempt.recipients = sum(counts.values())
        ok = not attempt.failed and not attempt.unknown and not counts.get(DeliveryStatus.PENDING)
        attempt.status = AttemptStatus.SUCCESS if ok else AttemptStatus.FAILURE
        headline = _("Sent %(sent)s of %(total)s; failed %(failed)s; unknown %(unknown)s; skipped %(skipped)s.") % {
            "sent": attempt.sent, "total": attempt.recipients, "failed": attempt.failed,
            "unknown": attempt.unknown, "skipped": counts.get(DeliveryStatus.SKIPPED, 0),
        }
        if not last_reply and not failures:
            last_reply, failures = _replies_from_rows(attempt)
        attempt.server_response = describe(headline, last_reply, failures)
        attempt.finished_at = now
        attempt.heartbeat_at = now
        attempt.save(update_fields=[
            "sent", "failed", "unknown", "recipients", "status", "server_response", "finished_at", "heartbeat_at",
        ])
    scheduling.run_finished(attempt=attempt)
    logger.info("attempt %s finished: %s", attempt.pk, headline)
    return attempt


def _replies_from_rows(attempt):
    """Server words from stored rows, for a run resumed by a worker that saw none itself."""
    rows = Delivery.objects.filter(attempt=attempt)
    last = rows.filter(status=DeliveryStatus.SENT).order_by("-sent_at").values_list("smtp_code", "smtp_response").first()
    failures = Counter()
    failed = rows.exclude(status__in=[DeliveryStatus.SENT, DeliveryStatus.SKIPPED, DeliveryStatus.PENDING])
    for code, reply, n in failed.values_list("smtp_code", "smtp_response").annotate(n=Count("pk"))[:5]:
        failures[f"{code} {reply}" if code else reply] += n
    return (f"{last[0]} {last[1]}" if last else ""), failures


def deliver(attempt, *, now=timezone.now, sleep=time.sleep, progress=None):
    """Deliver a claimed (or resumed) run until it finishes, pauses or is stopped."""
    attempt = Attempt.objects.select_related("mailing__message", "mailing__owner").get(pk=attempt.pk)
    if attempt.status != AttemptStatus.RUNNING:
        return attempt
    logger.info("attempt %s: delivering in pid %s", attempt.pk, _pid())
    result = RunDelivery(attempt, now=now, sleep=sleep, progress=progress).run()
    connection.close_if_unusable_or_obsolete()
    return result


def _pid():
    import os

    return os.getpid()
