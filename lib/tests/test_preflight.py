import pytest

from lib import preflight


def message(html, text=True, unsubscribe=True, filler=0):
    parts = []
    if text:
        parts.append("--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n")
    parts.append(f"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}{'x' * filler}\r\n")
    headers = (
        "From: News <news@example.com>\r\nTo: ivan@example.org\r\nSubject: Spring sale\r\n"
        "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n"
    )
    if unsubscribe:
        headers += ("List-Unsubscribe: <https://example.com/unsubscribe/t/>\r\n"
                    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    headers += 'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="B"\r\n\r\n'
    return (headers + "".join(parts) + "--B--\r\n").encode()


GOOD_HTML = '<p>Hi</p><a href="https://example.com/sale">Sale</a> <a href="https://example.com/unsubscribe/t/">Unsubscribe</a>'


def test_a_clean_message_has_nothing_to_report():
    result = preflight.check(message(GOOD_HTML), unsubscribe_prefix="https://example.com/unsubscribe/", spamassassin=False)
    assert result.has_text_part and result.has_unsubscribe_header and result.has_unsubscribe_link
    assert [link.url for link in result.links] == ["https://example.com/sale", "https://example.com/unsubscribe/t/"]
    assert result.insecure_links == result.mismatched_links == ()
    assert not result.too_big


def test_problems_are_named():
    html = ('<a href="http://example.com/a">plain http</a>'
            '<a href="https://evil.example.net/login">https://www.bank.example.com/login</a>')
    result = preflight.check(message(html, text=False, unsubscribe=False, filler=120_000), spamassassin=False)
    assert not result.has_text_part
    assert not result.has_unsubscribe_header and not result.has_unsubscribe_link
    assert [link.url for link in result.insecure_links] == ["http://example.com/a"]
    assert [link.url for link in result.mismatched_links] == ["https://evil.example.net/login"]
    assert result.too_big and result.size > 120_000


def test_a_link_whose_text_is_its_own_address_is_no_mismatch():
    link = preflight.Link("https://www.example.com/x", "example.com/x")
    assert not preflight.shows_another_address(link)


def test_spamassassin_output_is_read():
    output = b"X-Spam-Status: Yes, score=6.1 required=5.0 tests=HTML_MESSAGE,\n\tMIME_HTML_ONLY autolearn=no\n\nbody"
    assert preflight._parse_spamassassin(output) == preflight.SpamScore(6.1, ("HTML_MESSAGE", "MIME_HTML_ONLY"))


@pytest.mark.skipif(not preflight.spamassassin_available(),
                    reason="SpamAssassin is not installed (apt-get install spamassassin)")
def test_spamassassin_scores_a_real_message():
    """An HTML-only message hits SpamAssassin's MIME_HTML_ONLY rule; with a text part it does not."""
    html_only = preflight.check(message(GOOD_HTML, text=False))
    both = preflight.check(message(GOOD_HTML, text=True))
    assert "MIME_HTML_ONLY" in html_only.spam.rules
    assert "MIME_HTML_ONLY" not in both.spam.rules
