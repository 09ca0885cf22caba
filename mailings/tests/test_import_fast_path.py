"""The import's fast path for plain ASCII addresses gives what the one rule gives.

``rows.plain_address`` skips Client.normalize_email and Django's validator for addresses it
recognises; it must never accept one the rule refuses, nor normalise one differently. It is
compared here with the rule (``rows.checked_address``) on a large generated sample built
around the edges: case, IDNA and Unicode look-alikes, quoted local parts, literals, dots,
hyphens, label and address lengths, whitespace and control characters.
"""
import random

import pytest

from mailings.importing.report import ImportReport
from mailings.importing.rows import FileEmailValidator, checked_address, plain_address

EDGE_CASES = [
    "ann@example.com", "Ann.Lee+news@Example.COM", "a@b.co", "a@b.c", "a@b", "a@localhost", "a@[127.0.0.1]",
    "a@[IPv6:::1]", '"a b"@example.com', '"a\\"b"@example.com', "a..b@example.com", ".a@example.com",
    "a.@example.com", "a@-example.com", "a@example-.com", "a@example.c-m", "a@example.com.", "a@.example.com",
    "a@exa_mple.com", "a@example.123", "a@xn--e1afmkfd.xn--p1ai", "a@пример.рф", "иван@пример.рф",
    "Иван@Пример.РФ", "a@ПРИМЕР.рф", "ſ@example.com", "a@exampſe.com", "a@example.ſom", "a@\u212aelvin.com",
    "a\u212a@example.com", "ǅ@example.com", "a@exämple.com", "a@EXÄMPLE.com", " a@example.com", "a@example.com ",
    "a @example.com", "a@example.com\n", "a\x00@example.com", "a\x01@example.com", "a\t@example.com",
    "a@@example.com", "a@b@example.com", "@example.com", "a@", "", "a" * 64 + "@example.com",
    "a" * 65 + "@example.com", "a@" + "b" * 63 + ".com", "a@" + "b" * 64 + ".com", "a@" + ("b" * 60 + ".") * 4 + "com",
    "a@example." + "c" * 63, "a@example." + "c" * 64, "x" * 240 + "@example.com", "x" * 250 + "@example.com",
    "a!#$%&'*+/=?^_`{|}~-@example.com", "a+b@sub.sub2.example.co.uk", "a_b@ex-ample.com", "1@2.com", "a@1.2.3.4",
    "a@xn--80ak6aa92e.com", "a@xn--.com", "a@example.xn--p1ai", "test@ex\u00adample.com", "a@example.com\u200b",
    "a@example\u3002com", "ａ@example.com", "a@ｅxample.com",
]
ALPHABET = "aAzZ09._+-@!#%'\"()[]:; \t\\ſ\u212aéЯяß\u0130\u0131ǅ-.xn" + "abcdefghijklmnopqrstuvwxyz" * 3


def generated(count, seed=11):
    rng = random.Random(seed)
    for _ in range(count):
        local = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))
        labels = ["".join(rng.choice(ALPHABET.replace("@", "")) for _ in range(rng.randint(0, 10)))
                  for _ in range(rng.randint(1, 4))]
        yield local + "@" + ".".join(labels)
        # Mostly plain shapes as well, so the fast path is exercised often.
        plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-."
        user = "".join(rng.choice(plain) for _ in range(rng.randint(1, 10)))
        host = ".".join("".join(rng.choice(plain[:62] + "-") for _ in range(rng.randint(1, 8)))
                        for _ in range(rng.randint(1, 3)))
        yield f"{user}@{host}.{rng.choice(['com', 'RU', 'c', 'xn--p1ai', 'co1', 'r-u', 'рф', 'ſu'])}"


def by_the_rule(text):
    report = ImportReport()
    email = checked_address(1, text, report, FileEmailValidator())
    return email, [error.message for error in report.errors]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_an_address_the_fast_path_takes_is_one_the_rule_takes_unchanged(text):
    fast = plain_address(text)
    if fast is not None:
        assert by_the_rule(text) == (fast, [])


def test_the_fast_path_agrees_with_the_rule_on_a_large_generated_sample():
    taken = 0
    for text in generated(60_000):
        fast = plain_address(text)
        if fast is not None:
            taken += 1
            assert by_the_rule(text) == (fast, []), text
    assert taken > 10_000  # the sample does exercise the fast path


def test_plain_addresses_take_the_fast_path():
    assert plain_address("Ann.Lee+news@Sub.Example.COM") == "ann.lee+news@sub.example.com"
    assert plain_address("a@b.c") is None  # a one-letter top-level domain: the rule decides
    assert plain_address("a@пример.рф") is None  # IDNA: the rule normalises it
