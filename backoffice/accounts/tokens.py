"""Signed, expiring, single-use e-mail verification tokens.

The token carries the user's id and a fingerprint of the state it was issued for (address
and verification time). Verifying changes that state, so a used link no longer matches:
no table of issued tokens is needed, and a changed address invalidates old links too.
"""
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "backoffice.accounts.verify-email"


def _fingerprint(user):
    state = f"{user.pk}|{user.email.lower()}|{user.email_verified_at or ''}"
    return salted_hmac(SALT, state).hexdigest()[:20]


def make_token(user):
    return signing.dumps({"u": user.pk, "f": _fingerprint(user)}, salt=SALT)


@dataclass(frozen=True)
class TokenCheck:
    """What a token turned out to be: ``valid``, ``used``, ``expired`` or ``invalid``."""

    outcome: str
    user: object = None


def check_token(token):
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired:
        return TokenCheck("expired")
    except signing.BadSignature:
        return TokenCheck("invalid")
    if not isinstance(data, dict):
        return TokenCheck("invalid")
    user = get_user_model().objects.filter(pk=data.get("u")).first()
    if user is None:
        return TokenCheck("invalid")
    if not constant_time_compare(str(data.get("f", "")), _fingerprint(user)):
        # Signed by us for this user, but their state has moved on: verified already, or
        # the address changed since.
        return TokenCheck("used", user)
    return TokenCheck("valid", user)
