"""The SMTP bounce intake (mailings/intake.py) and a message its parser cannot read."""
import smtplib

import pytest

from lib.smtp_server import _free_port
from mailings.intake import BounceServer
from mailings.models import DeliveryStatus
from mailings.tests.test_deliverability import bounce_address, deliver_over_smtp, dsn, sent_deliveries


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_message_is_refused_for_good_and_the_next_report_still_handled(alice):
    delivery, _other = sent_deliveries(alice)
    address = bounce_address(delivery)
    intake = BounceServer("127.0.0.1", _free_port("127.0.0.1")).start()
    try:
        # No From header: flufl.bounce's Yale detector fails on it. A 451 would have the
        # sender try again for days; 554 ends it.
        with pytest.raises(smtplib.SMTPDataError) as refused:
            deliver_over_smtp(intake.port, address, b"Subject: garbled\r\n\r\n\x01 not a report\r\n")
        assert refused.value.smtp_code == 554
        deliver_over_smtp(intake.port, address, dsn(delivery.email, address))
    finally:
        intake.stop()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.BOUNCED
