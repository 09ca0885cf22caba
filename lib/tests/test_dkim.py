import dkim as dkimpy
import pytest

from lib import dkim

MESSAGE = (
    b"From: News <news@example.com>\r\nTo: ivan@example.org\r\nSubject: Hello\r\n"
    b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n"
    b"List-Unsubscribe: <https://example.com/unsubscribe/x/>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n"
)


@pytest.fixture(scope="module")
def pem():
    return dkim.generate_key()


@pytest.fixture(scope="module")
def key(pem):
    return dkim.load_key("Example.com", "s1", pem)


def dns_with(pem):
    record = dkim.txt_record_value(dkim.public_key_base64(pem)).encode()
    return lambda name, timeout=5: record if name == b"s1._domainkey.example.com." else None


def signature_tags(signed):
    header = signed.split(b"\r\n\r\n")[0].decode()
    value = header.split("DKIM-Signature:", 1)[1].split("\r\nFrom:")[0]
    value = "".join(value.split())
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)


def test_a_signed_message_verifies_with_its_public_key(key, pem):
    signed = dkim.sign(MESSAGE, key)
    assert signed.startswith(b"DKIM-Signature: ") and signed.endswith(MESSAGE)
    assert dkimpy.verify(signed, dnsfunc=dns_with(pem))


def test_the_signature_covers_the_identity_and_one_click_headers(key):
    tags = signature_tags(dkim.sign(MESSAGE, key))
    signed = tags["h"].split(":")
    for name in ("from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"):
        assert signed.count(name) == 2, name  # once, and once more to refuse an added copy
    assert (tags["d"], tags["s"], tags["c"], tags["a"]) == ("example.com", "s1", "relaxed/relaxed", "rsa-sha256")


def test_a_changed_subject_no_longer_verifies(key, pem):
    signed = dkim.sign(MESSAGE, key).replace(b"Subject: Hello", b"Subject: Hellp")
    assert not dkimpy.verify(signed, dnsfunc=dns_with(pem))


def test_the_key_never_shows_in_its_repr_or_text(key, pem):
    body_line = pem.splitlines()[1].decode()
    assert body_line not in repr(key) and body_line not in str(key)
    assert str(key) == "DKIM key s1._domainkey.example.com"


@pytest.mark.parametrize("material", [b"", b"not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_a_key_that_does_not_parse_is_refused(material):
    with pytest.raises(dkim.InvalidKey, match="not a PEM-encoded RSA private key"):
        dkim.load_key("example.com", "s1", material)


def test_a_short_key_is_refused():
    with pytest.raises(dkim.InvalidKey, match="has 512 bits"):
        dkim.load_key("example.com", "s1", dkim.generate_key(bits=512))


def test_the_txt_record_is_split_in_dns_strings_of_at_most_255_bytes(pem):
    public = dkim.public_key_base64(pem)
    record = dkim.txt_record("s1", "example.com", public)
    assert record.startswith('s1._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=')
    strings = record.split('"')[1::2]
    assert "".join(strings) == f"v=DKIM1; k=rsa; p={public}"
    assert max(len(s) for s in strings) == 255
