"""VERP bounce addresses: ``bounces+<token>@<bounce domain>`` per delivery (RFC 3464 §2.2's
envelope sender is where a bounce comes back to).

The token is the delivery id and a short MAC of it: ``<id in base 36>-<16 base-32 letters>``
(80 bits of HMAC-SHA256, keyed by SECRET_KEY with this module's own salt). It is
case-insensitive on purpose, because relays lowercase local parts, and short, because
some MTAs truncate long local parts (the whole local part stays under 64 characters).
A forged or altered token is refused, so nobody can mark someone else's delivery as
bounced by writing to a made-up address. Keys in SECRET_KEY_FALLBACKS still verify,
so rotating the secret does not orphan bounces of mail already sent.
"""
import base64
import re

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "lib.verp.bounce-token"
LOCAL_PART_PREFIX = "bounces+"
MAC_LENGTH = 16  # base-32 letters: 80 bits
TOKEN_PATTERN = re.compile(r"^([0-9a-z]{1,13})-([a-z2-7]{%d})$" % MAC_LENGTH)
ADDRESS_PATTERN = re.compile(r"^<?\s*bounces\+([^@\s>]+)@([^>\s]+?)\s*>?$", re.IGNORECASE)
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class BadToken(signing.BadSignature):
    """Not a bounce token this service made (forged, altered or no token at all)."""


def _base36(number):
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = BASE36[rest] + digits
        if not number:
            return digits


def _mac(value, secret):
    digest = salted_hmac(SALT, value, secret=secret, algorithm="sha256").digest()
    return base64.b32encode(digest).decode("ascii").lower()[:MAC_LENGTH]


def make_token(delivery_id):
    if not isinstance(delivery_id, int) or delivery_id < 0:
        raise ValueError("a delivery id is a non-negative whole number")
    value = _base36(delivery_id)
    return f"{value}-{_mac(value, settings.SECRET_KEY)}"


def delivery_id_from_token(token):
    """The delivery id the token was made for; raises ``BadToken`` otherwise."""
    match = TOKEN_PATTERN.match((token or "").strip().lower())
    if not match:
        raise BadToken("not a bounce token")
    value, mac = match.groups()
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not any(constant_time_compare(mac, _mac(value, secret)) for secret in secrets):
        raise BadToken("the bounce token's signature does not match")
    return int(value, 36)


def bounce_address(delivery_id, domain):
    """The envelope sender (Return-Path) for one delivery."""
    return f"{LOCAL_PART_PREFIX}{make_token(delivery_id)}@{domain}"


def token_from_address(address):
    """The token part of a ``bounces+<token>@domain`` address, or None if it is no such address."""
    match = ADDRESS_PATTERN.match((address or "").strip())
    return match.group(1) if match else None


def delivery_id_from_address(address):
    """The delivery id of a VERP bounce address; raises ``BadToken`` when it has none or is forged."""
    token = token_from_address(address)
    if token is None:
        raise BadToken("not a bounce address")
    return delivery_id_from_token(token)
