"""A mailing's message rendered once per run and specialised per recipient.

Placeholders ({{ full_name }}, {{ email }}, {{ unsubscribe_url }}) are split out once; per
recipient the message is a join plus two base64 encodings, with an HTML part, a plain-text
part derived from it, and RFC 8058 one-click unsubscribe headers.
"""
import base64
import html
import re
import uuid
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext as _

from backoffice.validators import header_safe
from mailings.bounces import relay_headers

UNSUBSCRIBE_SALT = "mailings.unsubscribe"

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


SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def _encode_header(value):
    """RFC 2047 encoding, with a fast path for the short texts of subjects and names."""
    if value.isascii():
        return value
    words, chunk, size = [], [], 0
    for char in value:  # encoded words of at most 45 bytes stay within 75 characters
        length = len(char.encode("utf-8"))
        if size + length > 45:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += length
    words.append("".join(chunk))
    return "\r\n ".join(
        f"=?utf-8?b?{base64.b64encode(word.encode('utf-8')).decode('ascii')}?=" for word in words
    )


def _address(name, address):
    """An address header value like formataddr(), without re-parsing the address."""
    if not name:
        return address
    if name.isascii():
        if SPECIALS.search(name):
            name = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
        return f"{name} <{address}>"
    return f"{_encode_header(name)} <{address}>"


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
        self.test_unsubscribe_url = site_url + reverse("unsubscribe_test")
        self.signer = signing.Signer(salt=UNSUBSCRIBE_SALT)
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
        """The recipient's own link; a message to no client (a test send to the owner, a
        preview's sample recipient) links to a page that explains it is a test."""
        if client_id is None:
            return self.test_unsubscribe_url
        return f"{self.unsubscribe_prefix}{self.signer.sign(str(client_id))}/"

    def build(self, recipient, date):
        """The message bytes for one recipient (CRLF line ends, ready for DATA)."""
        url = self.unsubscribe_url(recipient.client_id)
        raw = {"full_name": recipient.full_name, "email": recipient.email, "unsubscribe_url": url}
        escaped = {key: html.escape(value) for key, value in raw.items()}
        # Names and subjects are validated where they enter; header_safe also covers rows
        # stored before that or around it, so no stored text can add or end a header.
        subject = " ".join(header_safe(self.subject.render(raw)).split())
        to = _address(" ".join(header_safe(recipient.full_name).split()), header_safe(recipient.email))
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
            f"{relay_headers(recipient.delivery_id)}"  # the delivery token for a relaying provider
            "MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
            "\r\n"
            f"--{boundary}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode("utf-8")  # ASCII unless the address itself is internationalised
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
