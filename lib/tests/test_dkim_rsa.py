"""The OpenSSL RSA step (lib/dkim_rsa.py) makes exactly dkimpy's signatures, through the
two names dkimpy 1.1.8 calls, and nothing else of dkimpy changes."""
import hashlib
import re
import subprocess
from importlib.metadata import version

import dkim as dkimpy
import pytest

from lib import dkim, dkim_rsa

MESSAGE = (
    b"From: News <news@example.com>\r\nTo: =?utf-8?b?0JjQstCw0L0=?= <ivan@example.org>\r\n"
    b"Subject: Hello\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n"
    b"List-Unsubscribe: <https://example.com/unsubscribe/x/>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,  world. \r\n\r\n"
)


@pytest.fixture(scope="module", params=[1024, 2048])
def pem(request):
    return dkim.generate_key(bits=request.param)


def pkcs1(pem):
    """The same key in the traditional "BEGIN RSA PRIVATE KEY" form (generate_key makes PKCS#8)."""
    return subprocess.run(["openssl", "pkey", "-traditional"], input=pem, capture_output=True, check=True).stdout


def test_the_openssl_signature_is_byte_for_byte_dkimpys(pem):
    pure_key = dkim_rsa._dkimpy_parse_pem_private_key(pem)
    for form in (pem, pkcs1(pem)):
        fast_key = dkim_rsa.OpenSSLKey(form)
        for data in (b"", MESSAGE, b"x" * 10000):
            for hash_function in (hashlib.sha256, hashlib.sha1):
                digest = hash_function(data)
                assert bytes(fast_key.sign(digest)) == bytes(dkim_rsa._dkimpy_rsassa_pkcs1_v1_5_sign(digest, pure_key))


def pure_dkimpy_signature(message, key):
    """What dkimpy alone makes: the PEM handed over, its own parser and pure-Python RSA."""
    return dkimpy.sign(message, key.selector.encode(), key.domain.encode(), key.private_key,
                       canonicalize=dkim.CANONICALIZATION, include_headers=list(dkim.INCLUDED_HEADERS),
                       linesep=b"\r\n")


def test_the_signed_message_is_byte_for_byte_what_dkimpy_alone_makes(pem):
    key = dkim.load_key("example.com", "s1", pem)
    for _ in range(3):  # t= is the signing second: sign again if the two straddled one
        fast = dkim.sign(MESSAGE, key)
        pure = pure_dkimpy_signature(MESSAGE, key) + MESSAGE
        if re.search(rb"\bt=(\d+)", fast)[1] == re.search(rb"\bt=(\d+)", pure)[1]:
            break
    assert fast == pure


def test_dkimpys_own_verify_accepts_the_fast_signature(pem):
    key = dkim.load_key("example.com", "s1", pem)
    record = dkim.txt_record_value(dkim.public_key_base64(pem)).encode()
    assert dkimpy.verify(dkim.sign(MESSAGE, key), dnsfunc=lambda name, timeout=5: record)


def test_the_key_is_parsed_once_per_loaded_key(pem):
    key = dkim.load_key("example.com", "s1", pem)
    assert key.signing_key is key.signing_key
    assert repr(key.signing_key).startswith("<OpenSSLKey RSA ")
    assert pem.splitlines()[1].decode() not in repr(key.signing_key)


def test_the_seam_is_the_two_names_dkimpy_1_1_8_calls():
    """If a dkimpy upgrade moves its RSA step elsewhere, this fails, and so would signing
    (dkimpy's own parser refuses an OpenSSLKey), rather than falling back to 9 ms a message."""
    assert version("dkimpy") == "1.1.8"
    assert "parse_pem_private_key" in dkimpy.DKIM.sign.__code__.co_names
    assert "RSASSA_PKCS1_v1_5_sign" in dkimpy.DomainSigner.gen_header.__code__.co_names
    assert dkimpy.parse_pem_private_key is dkim_rsa.parse_pem_private_key
    assert dkimpy.RSASSA_PKCS1_v1_5_sign is dkim_rsa.rsassa_pkcs1_v1_5_sign
    key = dkim_rsa.OpenSSLKey(dkim.generate_key(bits=1024))
    with pytest.raises(TypeError):
        dkim_rsa._dkimpy_parse_pem_private_key(key)
    with pytest.raises(TypeError):
        dkim_rsa._dkimpy_rsassa_pkcs1_v1_5_sign(hashlib.sha256(b"x"), key)


def test_a_pem_given_to_dkimpy_still_takes_its_own_path(pem):
    parsed = dkimpy.parse_pem_private_key(pem)
    assert isinstance(parsed, dict) and parsed["modulus"] > 0


@pytest.mark.parametrize("algorithm", ["EC", "ED25519"])
def test_a_key_that_is_not_rsa_is_refused(algorithm):
    options = ["-pkeyopt", "ec_paramgen_curve:P-256"] if algorithm == "EC" else []
    material = subprocess.run(["openssl", "genpkey", "-algorithm", algorithm, *options],
                              capture_output=True, check=True).stdout
    with pytest.raises(dkim.InvalidKey, match="not a PEM-encoded RSA private key"):
        dkim.load_key("example.com", "s1", material)


def test_an_encrypted_key_is_refused_without_showing_it():
    pem = dkim.generate_key(bits=1024)
    encrypted = subprocess.run(["openssl", "pkey", "-aes256", "-passout", "pass:secret"], input=pem,
                               capture_output=True, check=True).stdout
    with pytest.raises(dkim.InvalidKey, match="not a PEM-encoded RSA private key") as refused:
        dkim.load_key("example.com", "s1", encrypted)
    assert encrypted.splitlines()[1].decode() not in str(refused.value)
