"""The SMTP bounce intake (mailings/intake.py) and a message its parser cannot read."""
import smtplib

import pytest

from lib.smtp_server import _free_port
from mailings.intake import BounceServer
from mailings.models import DeliveryStatus
from mailings.tests.test_deliverability import bounce_address, deliver_over_smtp, dsn, sent_deliveries


def deliver_garbled_then_a_report(alice, garbled):
    delivery, _other = sent_deliveries(alice)
    address = bounce_address(delivery)
    intake = BounceServer("127.0.0.1", _free_port("127.0.0.1")).start()
    try:
        try:
            deliver_over_smtp(intake.port, address, garbled)
            answer = 250
        except smtplib.SMTPDataError as refused:
            answer = refused.smtp_code
        deliver_over_smtp(intake.port, address, dsn(delivery.email, address))
    finally:
        intake.stop()
    delivery.refresh_from_db()
    return answer, delivery.status


@pytest.mark.django_db(transaction=True)
def test_a_garbled_message_is_taken_as_no_report_and_the_next_report_still_handled(alice):
    # No From header, control characters, no report: once flufl.bounce's Yale detector broke on
    # a missing From (IndexError); now it is read, found to be no report, and ignored.
    garbled = b"Subject: garbled\r\n\r\n\x01 not a report\r\n"
    assert deliver_garbled_then_a_report(alice, garbled) == (250, DeliveryStatus.BOUNCED)


@pytest.mark.django_db(transaction=True)
def test_a_message_the_parser_fails_on_is_refused_for_good_and_the_next_report_still_handled(alice, monkeypatch):
    # No real message makes the parser fail any more (8,000 mutated corpus messages tried), so
    # a failure is injected into our own parser for the one message that says so. A 451 would
    # have the sender try again for days; 554 ends it.
    from lib import bounces as parser

    real_parse = parser.parse

    def parse(raw, *args, **kwargs):
        if b"parser-breaker" in raw:
            raise ValueError("a parser bug")
        return real_parse(raw, *args, **kwargs)

    monkeypatch.setattr(parser, "parse", parse)
    garbled = b"Subject: parser-breaker\r\n\r\nnot a report\r\n"
    assert deliver_garbled_then_a_report(alice, garbled) == (554, DeliveryStatus.BOUNCED)
