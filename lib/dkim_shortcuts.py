"""Shortcuts past dkimpy's regular expressions where they would change nothing.

After its RSA step moved to OpenSSL (``lib/dkim_rsa.py``), most of what signing costs is
dkimpy's own Python: ``rfc822_parse`` splits the whole message into lines with a regular
expression and joins the body back (~60 µs for a 5 KB mailing message on the project's
machine), and relaxed body canonicalisation runs two ``re.sub`` over the body (~100 µs)
although the bodies this service builds (base64 and quoted-printable parts, CRLF line
ends) never hold a tab, two spaces in a row or a space before a line end.

Each shortcut checks, with a substring search, that dkimpy's own code would return its input
unchanged (or, for the parse, split it exactly where the shortcut does) and otherwise calls
dkimpy's own function. The results are therefore byte-for-byte dkimpy's, for every input:
``lib/tests/test_dkim_shortcuts.py`` compares them on generated and real messages.

dkimpy 1.1.8 calls these through module globals (``dkim.rfc822_parse`` from
``DKIM.set_message``; ``compress_whitespace`` and ``strip_trailing_whitespace`` from
``Relaxed`` in ``dkim.canonicalization``), so ``install`` (run once, on import) puts the
shortcuts there; requirements.txt pins dkimpy, and the test fails loudly if an upgrade stops
calling them.
"""
import dkim
from dkim import canonicalization

_dkimpy_rfc822_parse = dkim.rfc822_parse
_dkimpy_compress_whitespace = canonicalization.compress_whitespace
_dkimpy_strip_trailing_whitespace = canonicalization.strip_trailing_whitespace


def compress_whitespace(content):
    """dkimpy's ``[\\t ]+`` → one space; nothing to do without a tab or two spaces in a row."""
    if b"\t" in content or b"  " in content:
        return _dkimpy_compress_whitespace(content)
    return content


def strip_trailing_whitespace(content):
    """dkimpy's ``[\\t ]+\\r\\n`` → ``\\r\\n``; nothing to do without a tab or a space before CRLF."""
    if b"\t" in content or b" \r\n" in content:
        return _dkimpy_strip_trailing_whitespace(content)
    return content


def rfc822_parse(message):
    """dkimpy's (headers, body), parsing only the header block when every line ends in CRLF.

    In such a message dkimpy's first empty line is the first CRLF CRLF (unless the message
    starts with one), and its body, the later lines joined again by CRLF, is exactly the
    bytes after it; so only the header block goes through dkimpy's parser.
    """
    end_of_headers = message.find(b"\r\n\r\n")
    if end_of_headers < 0 or message.startswith(b"\r\n") or message.count(b"\n") != message.count(b"\r\n"):
        return _dkimpy_rfc822_parse(message)
    body_start = end_of_headers + 4
    headers, _empty = _dkimpy_rfc822_parse(message[:body_start])
    return headers, message[body_start:]


def install():
    """Route dkimpy's message parse and relaxed whitespace rules through the shortcuts (idempotent)."""
    dkim.rfc822_parse = rfc822_parse
    canonicalization.compress_whitespace = compress_whitespace
    canonicalization.strip_trailing_whitespace = strip_trailing_whitespace


def uninstall():
    """dkimpy's own three functions back in place (what the test and the benchmark compare with)."""
    dkim.rfc822_parse = _dkimpy_rfc822_parse
    canonicalization.compress_whitespace = _dkimpy_compress_whitespace
    canonicalization.strip_trailing_whitespace = _dkimpy_strip_trailing_whitespace


install()
