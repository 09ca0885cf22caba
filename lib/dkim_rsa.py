"""dkimpy's RSA step done by OpenSSL (the ``cryptography`` package): same signature, ~20× faster.

dkimpy builds the DKIM-Signature (header selection, canonicalisation, body hash, tag list,
folding), then signs the header hash with RSASSA-PKCS1-v1_5 in pure Python (``pow`` on
Python integers): ~9 ms per RSA-2048 signature on this project's machine, and its
``DKIM.sign`` parses the PEM again for every message (~0.2 ms). OpenSSL signs in ~0.4 ms.
RSASSA-PKCS1-v1_5 is deterministic, so the bytes are exactly those dkimpy would have made
(``lib/tests/test_dkim_rsa.py`` compares them).

Why two module names are replaced: dkimpy 1.1.8 has no hook for its RSA. ``DKIM.sign``
calls the names ``parse_pem_private_key`` and ``RSASSA_PKCS1_v1_5_sign`` that
``dkim/__init__.py`` imported from ``dkim.crypto`` (the only callers of either). ``install``
(run once, when this module is imported) puts in their place functions that take an
``OpenSSLKey`` and hand anything else to dkimpy's own, so every other use of dkimpy (a PEM
passed as bytes, ARC, verifying) behaves as before. Should an upgrade of dkimpy stop
calling those names, signing with an ``OpenSSLKey`` fails loudly (dkimpy's parser gets an
object, not PEM bytes) instead of silently falling back to the slow path;
``lib/tests/test_dkim_rsa.py`` pins this, and requirements.txt pins dkimpy.
"""
import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

# dkimpy's hash objects carry hashlib's name; DKIM signs with rsa-sha256 (rsa-sha1 is
# historic, RFC 8301, but dkimpy still offers it).
_HASHES = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}


class OpenSSLKey:
    """An RSA private key parsed once by OpenSSL, to hand to ``dkim.sign`` as its ``privkey``.

    Raises ``ValueError`` when the PEM is not an unencrypted RSA private key (PKCS#1 or
    PKCS#8). Its repr names the size only; the key is never shown.
    """

    __slots__ = ("_key",)

    def __init__(self, pem):
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        # TypeError: an encrypted key without its password; UnsupportedAlgorithm: a key type
        # this OpenSSL does not know.
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ValueError("not a PEM-encoded RSA private key") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("not an RSA key")
        self._key = key

    @property
    def bits(self):
        return self._key.key_size

    def sign(self, hash_object):
        """RSASSA-PKCS1-v1_5 over the digest of a hashlib-like object (dkimpy's ``HashThrough``)."""
        algorithm = _HASHES[hash_object.name.lower()]()
        return self._key.sign(hash_object.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm))

    def __repr__(self):
        return f"<OpenSSLKey RSA {self.bits}>"


_dkimpy_parse_pem_private_key = dkim.crypto.parse_pem_private_key
_dkimpy_rsassa_pkcs1_v1_5_sign = dkim.crypto.RSASSA_PKCS1_v1_5_sign


def parse_pem_private_key(data):
    """dkimpy's parser, except that an ``OpenSSLKey`` (already parsed) passes through."""
    if isinstance(data, OpenSSLKey):
        return data
    return _dkimpy_parse_pem_private_key(data)


def rsassa_pkcs1_v1_5_sign(hash_object, private_key):
    """dkimpy's RSA signature, by OpenSSL when the key is an ``OpenSSLKey``."""
    if isinstance(private_key, OpenSSLKey):
        return private_key.sign(hash_object)
    return _dkimpy_rsassa_pkcs1_v1_5_sign(hash_object, private_key)


def install():
    """Route dkimpy's key parsing and RSA signing through the two functions above (idempotent)."""
    dkim.parse_pem_private_key = parse_pem_private_key
    dkim.RSASSA_PKCS1_v1_5_sign = rsassa_pkcs1_v1_5_sign


install()
