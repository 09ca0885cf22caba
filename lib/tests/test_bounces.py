"""Bounces and complaints, on messages real servers wrote (sisimai's corpus) and on our own."""
import json
from pathlib import Path

from lib import arf, bounces, verp

CORPUS = Path(__file__).parent / "corpus" / "sisimai"


def corpus(name):
    return (CORPUS / "maildir" / name).read_bytes()


def test_a_postfix_dsn_names_the_recipient_status_and_diagnostic():
    report = bounces.parse(corpus("lhost-postfix-04.eml"))
    assert report.kind == "bounce"
    (failure,) = report.failures
    assert failure.severity == bounces.HARD and failure.status == "5.1.1"
    assert "@" in failure.recipient and failure.diagnostic


def test_a_full_mailbox_is_soft_whatever_code_the_server_used():
    assert bounces.classify("5.1.1", "552 5.2.2 Mailbox full") == bounces.SOFT
    assert bounces.classify("5.1.1", "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown") == bounces.HARD
    assert bounces.classify("5.7.1", "554 5.7.1 Service unavailable; blocked using zen.spamhaus.org") == bounces.SOFT
    assert bounces.classify("4.4.1", "", action="delayed") == bounces.SOFT


def test_a_qmail_bounce_without_a_dsn_is_read_too():
    report = bounces.parse(corpus("lhost-qmail-01.eml"))
    assert report.kind == "bounce"
    assert [f.recipient for f in report.failures] == ["kijitora@example.ne.jp"]
    assert report.failures[0].severity == bounces.HARD
    assert "550 Unknown user" in report.failures[0].diagnostic


def test_a_vacation_reply_is_no_bounce():
    assert bounces.parse(corpus("rfc3834-01.eml")).kind == "auto-reply"


def test_the_verp_token_comes_from_the_envelope_or_the_to_header(settings):
    address = verp.bounce_address(99, "bounce.example.com")
    raw = corpus("lhost-postfix-04.eml")
    assert verp.delivery_id_from_token(bounces.parse(raw, envelope_recipient=address).token) == 99
    readdressed = b"To: " + address.encode() + b"\n" + raw
    assert verp.delivery_id_from_token(bounces.parse(readdressed).token) == 99
    assert bounces.parse(raw).token is None


def test_a_feedback_report_is_a_complaint_with_the_recipient():
    complaint = arf.parse(corpus("arf-16.eml"))
    assert (complaint.feedback_type, complaint.recipient) == ("abuse", "kijitora@example.com")
    assert arf.parse(corpus("lhost-postfix-04.eml")) is None


def test_a_complaint_carries_the_token_of_our_original_message():
    token_address = verp.bounce_address(1234, "bounce.example.com")
    original = (f"Return-Path: <{token_address}>\r\nFrom: news@example.com\r\nTo: ivan@example.org\r\n"
                "Subject: Sale\r\n\r\nHello\r\n")
    report = (
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary="X"\r\n'
        "From: fbl@isp.example\r\nTo: abuse@example.com\r\nSubject: FBL\r\n\r\n"
        "--X\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
        "--X\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: Test/1\r\nVersion: 1\r\n\r\n"
        f"--X\r\nContent-Type: message/rfc822\r\n\r\n{original}\r\n--X--\r\n"
    ).encode()
    complaint = arf.parse(report)
    assert complaint.recipient == "ivan@example.org"
    assert verp.delivery_id_from_token(complaint.token) == 1234


def test_the_corpus_and_its_answers_travel_with_their_licence():
    expected = json.loads((CORPUS / "expected.json").read_text())
    assert sorted(expected) == sorted(path.name for path in (CORPUS / "maildir").iterdir())
    assert "BSD 2-CLAUSE" in (CORPUS / "LICENSE").read_text()


GMAIL_DELAY_WITHOUT_FROM = (
    b"To: bounces@example.com\r\nSubject: Delivery Status Notification (Delay)\r\n\r\n"
    b"Delivery to the following recipient has been delayed:\r\n\r\n"
    b"     late@example.org\r\n\r\n"
    b"Message will be retried for 2 more day(s)\r\n"
)


def test_a_delay_warning_is_soft_and_a_missing_from_header_breaks_nothing():
    # flufl.bounce answers (temporary, permanent); its Yale detector raised IndexError on a
    # message without From, which used to stop the detectors listed after it.
    report = bounces.parse(GMAIL_DELAY_WITHOUT_FROM)
    assert [(f.recipient, f.severity) for f in report.failures] == [("late@example.org", bounces.SOFT)]


def test_a_message_no_detector_recognises_is_unknown():
    assert bounces.parse(b"To: bounces@example.com\r\nSubject: hello\r\n\r\nJust a note.\r\n").kind == "unknown"


def test_a_part_in_a_charset_python_does_not_know_is_read_as_utf8():
    garbled = (
        b"Subject: hi\r\nContent-Type: text/plain; charset=utf-3\r\n\r\n"
        b"Delivery to the following recipient has been delayed:\r\n\r\n     late@example.org\r\n\r\n"
        b"Message will be retried\r\n"
    )
    report = bounces.parse(garbled)
    assert [(f.recipient, f.severity) for f in report.failures] == [("late@example.org", bounces.SOFT)]
