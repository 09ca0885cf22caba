"""DKIM signing (RFC 6376) of the messages the service sends, with dkimpy.

A ``DkimKey`` is loaded once at start-up (``load_key``: a key that does not parse raises
``InvalidKey`` there, not at the first send) and ``sign`` adds one ``DKIM-Signature``
header to a built message. The private key never appears in a repr, a log line or a task
argument: callers pass the loaded key object, which workers read from settings.

dkimpy builds the signature; its RSA step is done by OpenSSL with the key parsed once per
process (``lib/dkim_rsa.py``: ~0.4 ms a signature instead of dkimpy's pure-Python ~9 ms),
and its message parse and relaxed whitespace rules skip their regular expressions where
they would change nothing (``lib/dkim_shortcuts.py``; the bytes stay dkimpy's).

``generate_key`` makes a new RSA key pair with the machine's ``openssl`` and
``txt_record`` writes the DNS TXT record that publishes the public half.
"""
import base64
import subprocess
from dataclasses import dataclass, field
from functools import cached_property

import dkim

from lib import dkim_shortcuts  # noqa: F401  (installs the shortcuts on import)
from lib.dkim_rsa import OpenSSLKey

# Signed headers: the identity and content a reader sees, and RFC 8058 §4's one-click
# unsubscribe pair (a receiver only honours List-Unsubscribe-Post when it is signed).
SIGNED_HEADERS = (
    b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe", b"List-Unsubscribe-Post",
)
# Each is also signed once more than it occurs ("over-signing", RFC 6376 §8.15), so a
# second From or Subject added in transit breaks the signature instead of being shown.
INCLUDED_HEADERS = SIGNED_HEADERS * 2 + (b"MIME-Version", b"Content-Type")
# relaxed/relaxed survives the whitespace and line-folding changes relays make.
CANONICALIZATION = (b"relaxed", b"relaxed")
MIN_KEY_BITS = 1024  # receivers ignore shorter keys (RFC 8301 §3.2)
DEFAULT_KEY_BITS = 2048
KEYGEN_TIMEOUT = 60  # seconds; generating a 2048-bit key takes well under one


class InvalidKey(ValueError):
    """The private key cannot be used for signing (says why, never shows the key)."""


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_key: bytes = field(repr=False)  # PEM; kept out of repr so it never reaches a log

    def __str__(self):
        return f"DKIM key {self.selector}._domainkey.{self.domain}"

    @cached_property
    def signing_key(self):
        """The key parsed by OpenSSL, once per ``DkimKey`` (so once per process for
        settings.DKIM_KEY), never per message; raises ``ValueError`` if it does not parse."""
        return OpenSSLKey(self.private_key)

    @cached_property
    def tags(self):
        """(selector, domain) as the bytes dkimpy puts in ``s=`` and ``d=``."""
        return self.selector.encode("ascii"), self.domain.encode("idna")


def load_key(domain, selector, private_key_pem):
    """A checked ``DkimKey``; raises ``InvalidKey`` when the PEM is not a usable RSA key."""
    pem = private_key_pem.encode("ascii", "replace") if isinstance(private_key_pem, str) else private_key_pem
    if not domain or not selector:
        raise InvalidKey("a DKIM key needs both a domain and a selector")
    key = DkimKey(domain=domain.strip().lower(), selector=selector.strip(), private_key=pem)
    try:
        bits = key.signing_key.bits  # parsed here, once: the sends reuse it
    except ValueError:
        raise InvalidKey("not a PEM-encoded RSA private key") from None
    if bits < MIN_KEY_BITS:
        raise InvalidKey(f"the RSA key has {bits} bits; receivers need at least {MIN_KEY_BITS}")
    return key


def sign(message_bytes, key):
    """The message with a ``DKIM-Signature`` header in front (CRLF kept as given)."""
    selector, domain = key.tags
    signature = dkim.sign(
        message_bytes,
        selector,
        domain,
        key.signing_key,  # OpenSSL signs (lib/dkim_rsa.py); a PEM here would take dkimpy's pure-Python RSA
        canonicalize=CANONICALIZATION,
        include_headers=list(INCLUDED_HEADERS),
        linesep=b"\r\n",
    )
    return signature + message_bytes


def generate_key(bits=DEFAULT_KEY_BITS):
    """A new RSA private key as PEM bytes, made by ``openssl`` (no Python crypto library here)."""
    result = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}"],
        capture_output=True, check=True, timeout=KEYGEN_TIMEOUT,
    )
    return result.stdout


def public_key_base64(private_key_pem):
    """The public half (SubjectPublicKeyInfo, DER, base64) that the TXT record's p= carries."""
    result = subprocess.run(
        ["openssl", "pkey", "-pubout", "-outform", "DER"],
        input=private_key_pem, capture_output=True, check=True, timeout=KEYGEN_TIMEOUT,
    )
    return base64.b64encode(result.stdout).decode("ascii")


def txt_record_value(public_key_b64):
    return f"v=DKIM1; k=rsa; p={public_key_b64}"


def txt_record(selector, domain, public_key_b64):
    """The zone-file line to publish, split in 255-byte strings as DNS TXT requires."""
    value = txt_record_value(public_key_b64)
    chunks = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
    return f"{selector}._domainkey.{domain}. IN TXT ( {chunks} )"
