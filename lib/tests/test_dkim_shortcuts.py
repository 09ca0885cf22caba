"""The shortcuts of lib/dkim_shortcuts.py return exactly what dkimpy's own functions return,
for generated inputs and real messages, and dkimpy 1.1.8 still calls them when it signs."""
import random
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from pathlib import Path

import dkim as dkimpy
import pytest
from dkim import canonicalization

from lib import dkim, dkim_shortcuts

CORPUS = Path(__file__).parent / "corpus"
# Bytes that matter to the rules (whitespace, line ends, header syntax) and some that do not.
ALPHABET = [b"\t", b" ", b"  ", b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"a", b"B", b":", b"From ", b"=", b"\x00", "я".encode()]


def generated(count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        yield b"".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 40)))


def corpus_messages():
    return [path.read_bytes() for path in sorted(CORPUS.rglob("*")) if path.is_file()]


def built_message():
    """A mailing-like message as the service builds them: CRLF, a base64 text part and a
    quoted-printable HTML part with spaces, a tab and runs of spaces in its source."""
    message = EmailMessage(policy=SMTP)
    message["From"], message["To"] = "News <news@example.com>", "Иван Петров <ivan@example.org>"
    message["Subject"], message["Date"] = "Новости для Ивана", formatdate()
    message["Message-ID"] = "<run1.1@example.com>"
    message["List-Unsubscribe"] = "<https://example.com/unsubscribe/1:abc/>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content("Здравствуйте, Иван!  Наши новости.\t\n" * 20, cte="base64")
    message.add_alternative("<p>Здравствуйте,  Иван!\t</p> \n" * 20, subtype="html", cte="quoted-printable")
    return message.as_bytes()


def parse_or_error(function, message):
    try:
        return function(message)
    except (dkimpy.MessageFormatError, IndexError) as error:  # IndexError: a continuation line first
        return (type(error).__name__, str(error))


def test_the_whitespace_rules_change_exactly_what_dkimpys_change():
    for content in generated(20000, seed=1):
        assert dkim_shortcuts.compress_whitespace(content) == dkim_shortcuts._dkimpy_compress_whitespace(content)
        assert (dkim_shortcuts.strip_trailing_whitespace(content)
                == dkim_shortcuts._dkimpy_strip_trailing_whitespace(content))


def test_the_parse_splits_generated_messages_exactly_as_dkimpy_does():
    for content in generated(20000, seed=2):
        message = b"From: a@example.com\r\n" + content  # most generated strings then have a header
        for candidate in (content, message):
            assert (parse_or_error(dkim_shortcuts.rfc822_parse, candidate)
                    == parse_or_error(dkim_shortcuts._dkimpy_rfc822_parse, candidate))


def test_real_messages_parse_and_canonicalise_as_dkimpy_does():
    messages = [*corpus_messages(), built_message()]
    assert len(messages) > 50
    for message in messages:
        for variant in (message, message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")):
            parsed = parse_or_error(dkim_shortcuts.rfc822_parse, variant)
            assert parsed == parse_or_error(dkim_shortcuts._dkimpy_rfc822_parse, variant)
            if isinstance(parsed[0], list):
                body = parsed[1]
                assert dkim_shortcuts.compress_whitespace(body) == dkim_shortcuts._dkimpy_compress_whitespace(body)
                assert (dkim_shortcuts.strip_trailing_whitespace(body)
                        == dkim_shortcuts._dkimpy_strip_trailing_whitespace(body))


def test_a_signature_is_byte_for_byte_the_one_dkimpy_makes_without_the_shortcuts(monkeypatch):
    key = dkim.load_key("example.com", "s1", dkim.generate_key(bits=1024))
    monkeypatch.setattr(dkimpy.time, "time", lambda: 1_700_000_000)  # the t= tag
    message = built_message()
    with_shortcuts = dkim.sign(message, key)
    dkim_shortcuts.uninstall()
    try:
        without = dkim.sign(message, key)
    finally:
        dkim_shortcuts.install()
    assert without == with_shortcuts


def test_dkimpy_still_calls_the_shortcuts_when_it_signs(monkeypatch):
    """If an upgrade of dkimpy stopped calling these names, the shortcuts would silently do
    nothing; this fails instead."""
    calls = []

    def spy(function):
        return lambda *args: calls.append(function.__name__) or function(*args)

    assert dkimpy.rfc822_parse is dkim_shortcuts.rfc822_parse
    monkeypatch.setattr(dkimpy, "rfc822_parse", spy(dkim_shortcuts.rfc822_parse))
    monkeypatch.setattr(canonicalization, "compress_whitespace", spy(dkim_shortcuts.compress_whitespace))
    monkeypatch.setattr(canonicalization, "strip_trailing_whitespace", spy(dkim_shortcuts.strip_trailing_whitespace))
    dkim.sign(built_message(), dkim.load_key("example.com", "s1", dkim.generate_key(bits=1024)))
    assert {"rfc822_parse", "compress_whitespace", "strip_trailing_whitespace"} <= set(calls)
