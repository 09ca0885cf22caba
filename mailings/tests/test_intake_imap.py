"""The bounce mailbox polled over IMAP (mailings/intake_imap.py), against a real dovecot on
loopback (lib/testing/dovecot.py): messages are put in with IMAP APPEND, as an MTA would
deliver them, and the poll reads them with imap-tools through the same code the worker runs."""
import dataclasses
import logging

import pytest
from django.utils import timezone
from django_q.models import Schedule
from imap_tools import MailBoxUnencrypted

from lib.bounce_mailbox import BounceMailbox
from lib.smtp_server import _free_port
from lib.testing.dovecot import DovecotServer, DovecotUnavailable
from mailings import dispatch, intake_imap, tasks
from mailings.bounces import handle_report
from mailings.models import Delivery, DeliveryStatus, SoftBounces, Suppression, SuppressionReason
from mailings.tests.test_deliverability import arf, bounce_address, deliveries_to_one_address, dsn, sent_deliveries

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture(scope="module")
def dovecot():
    server = DovecotServer()
    try:
        server.start()
    except DovecotUnavailable as error:
        pytest.skip(f"no IMAP server to test against: {error}")
    yield server
    server.stop()


@pytest.fixture
def mailbox(dovecot):
    """The settings of the bounce mailbox on the loopback dovecot, emptied before each test."""
    config = BounceMailbox(host=dovecot.host, port=dovecot.port, user=dovecot.user, password=dovecot.password,
                           security="none", timeout=10)
    with _client(config) as client:
        for folder in (config.folder, config.unreadable_folder):
            if client.folder.exists(folder):
                client.folder.set(folder)
                client.delete(client.uids("ALL"))
    return config


def _client(config, folder="INBOX"):
    return MailBoxUnencrypted(config.host, config.port, timeout=10).login(config.user, config.password, folder)


def deliver(config, *messages):
    """Put messages into the mailbox, as the bounce domain's MTA would."""
    with _client(config) as client:
        for raw in messages:
            client.append(raw)


def in_folder(config, folder):
    with _client(config, folder) as client:
        return [message.subject for message in client.fetch(mark_seen=False)]


def test_a_dsn_in_the_mailbox_bounces_the_delivery_and_suppresses_the_address(alice, mailbox):
    bounced, other = sent_deliveries(alice)
    deliver(mailbox, dsn(bounced.email, bounce_address(bounced)))

    result = intake_imap.poll(mailbox)

    assert (result.handled, result.changed, result.unreadable, result.error) == (1, 1, 0, "")
    bounced.refresh_from_db()
    assert bounced.status == DeliveryStatus.BOUNCED
    assert "550 5.1.1" in bounced.smtp_response
    assert list(Suppression.objects.values_list("owner", "email", "reason")) == [
        (alice.pk, bounced.email, SuppressionReason.BOUNCED)]
    other.refresh_from_db()
    assert other.status == DeliveryStatus.SENT
    assert in_folder(mailbox, "INBOX") == []  # handled: deleted


def test_a_feedback_loop_report_marks_the_delivery_complained(alice, mailbox):
    delivery, _other = sent_deliveries(alice)
    deliver(mailbox, arf(delivery.email, bounce_address(delivery)))

    result = intake_imap.poll(mailbox)

    assert (result.handled, result.changed) == (1, 1)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.COMPLAINED
    assert Suppression.objects.get().reason == SuppressionReason.COMPLAINED


def test_a_forged_token_changes_nothing_and_the_message_is_removed(alice, mailbox):
    delivery, _other = sent_deliveries(alice)
    local, _, domain = bounce_address(delivery).partition("@")
    forged = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"
    deliver(mailbox, dsn(delivery.email, forged))

    result = intake_imap.poll(mailbox)

    assert (result.handled, result.changed, [o.kind for o in result.outcomes]) == (1, 0, ["ignored"])
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert not Suppression.objects.exists()
    assert in_folder(mailbox, "INBOX") == []


def test_a_garbled_message_is_read_as_no_report_and_the_next_one_is_still_handled(alice, mailbox):
    delivery, _other = sent_deliveries(alice)
    # No From header: flufl.bounce's Yale detector once broke on it (IndexError); now it is read,
    # found to be no report, ignored and deleted like any other handled message.
    garbage = b"Subject: garbled\r\n\r\n\x00\x01\x02 not a report \xff\xfe\r\n"
    deliver(mailbox, garbage, dsn(delivery.email, bounce_address(delivery)))

    result = intake_imap.poll(mailbox)

    assert (result.handled, result.changed, result.unreadable) == (2, 1, 0)
    assert [o.kind for o in result.outcomes] == ["ignored", "hard"]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.BOUNCED
    assert in_folder(mailbox, "INBOX") == []


def test_a_message_the_parser_fails_on_is_moved_aside_and_the_next_one_is_still_handled(
    alice, mailbox, caplog, monkeypatch,
):
    # No real message makes the parser fail any more (8,000 mutated corpus messages tried), so
    # a failure is injected into our own parser for the one message that says so.
    from lib import bounces as parser

    real_parse = parser.parse

    def parse(raw, *args, **kwargs):
        if b"parser-breaker" in raw:
            raise ValueError("a parser bug")
        return real_parse(raw, *args, **kwargs)

    monkeypatch.setattr(parser, "parse", parse)
    delivery, _other = sent_deliveries(alice)
    deliver(mailbox, b"Subject: parser-breaker\r\n\r\nnot a report\r\n", dsn(delivery.email, bounce_address(delivery)))

    with caplog.at_level(logging.WARNING, logger="mailings.intake_imap"):
        result = intake_imap.poll(mailbox)

    assert (result.handled, result.changed, result.unreadable) == (1, 1, 1)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.BOUNCED
    assert in_folder(mailbox, "INBOX") == []
    assert in_folder(mailbox, mailbox.unreadable_folder) == ["parser-breaker"]
    assert "could not be read" in caplog.text


def test_a_message_bigger_than_a_report_is_moved_aside_unread(alice, mailbox):
    delivery, _other = sent_deliveries(alice)
    small_limit = dataclasses.replace(mailbox, max_message_bytes=4096)
    huge = b"From: someone@example.net\r\nSubject: huge\r\n\r\n" + (b"y" * 76 + b"\r\n") * 100  # 7.8 kB
    deliver(mailbox, huge, dsn(delivery.email, bounce_address(delivery)))

    result = intake_imap.poll(small_limit)

    assert (result.handled, result.unreadable) == (1, 1)
    assert in_folder(mailbox, mailbox.unreadable_folder) == ["huge"]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.BOUNCED


def test_a_second_poll_finds_nothing_new(alice, mailbox):
    first, second = sent_deliveries(alice)
    deliver(mailbox, dsn(first.email, bounce_address(first)), arf(second.email, bounce_address(second)))

    assert intake_imap.poll(mailbox).handled == 2
    again = intake_imap.poll(mailbox)

    assert (again.handled, again.changed, again.unreadable, again.error) == (0, 0, 0, "")
    assert Suppression.objects.count() == 2


def test_a_poll_killed_after_handling_counts_the_report_once_at_the_next_poll(alice, mailbox, settings):
    """Handled, then the worker dies before the delete: the message is still in the mailbox,
    and the next poll hands it over again; the soft bounce still counts once."""
    settings.SOFT_BOUNCE_LIMIT = 2
    delivery, _later = deliveries_to_one_address(alice, 2)
    report = dsn(delivery.email, bounce_address(delivery), status="4.2.2",
                 diagnostic="smtp; 452 4.2.2 <{rcpt}>: Mailbox full")
    deliver(mailbox, report)
    assert handle_report(report).changed  # what the killed poll did before it could delete

    result = intake_imap.poll(mailbox)

    assert (result.handled, result.changed) == (1, 0)
    assert SoftBounces.objects.get().in_a_row == 1
    assert not Suppression.objects.exists()
    assert in_folder(mailbox, "INBOX") == []


def test_one_poll_reads_at_most_its_batch_and_leaves_the_rest(alice, mailbox):
    deliveries = sent_deliveries(alice, 3)
    deliver(mailbox, *(dsn(d.email, bounce_address(d)) for d in deliveries))

    result = intake_imap.poll(dataclasses.replace(mailbox, batch=2))

    assert (result.handled, result.left) == (2, 1)
    assert intake_imap.poll(mailbox).handled == 1
    assert Delivery.objects.filter(status=DeliveryStatus.BOUNCED).count() == 3


def test_a_server_that_is_not_there_is_logged_and_retried_next_time(mailbox, caplog):
    absent = dataclasses.replace(mailbox, port=_free_port("127.0.0.1"), timeout=2)

    with caplog.at_level(logging.WARNING, logger="mailings.intake_imap"):
        result = intake_imap.poll(absent)

    assert result.handled == 0 and "ConnectionRefusedError" in result.error
    assert "trying again at the next poll" in caplog.text


def test_a_wrong_password_is_logged_never_shown_and_the_poll_ends(alice, mailbox, caplog):
    delivery, _other = sent_deliveries(alice)
    deliver(mailbox, dsn(delivery.email, bounce_address(delivery)))
    wrong = dataclasses.replace(mailbox, password="not-the-password")

    with caplog.at_level(logging.WARNING, logger="mailings.intake_imap"):
        result = intake_imap.poll(wrong)

    assert result.handled == 0 and "MailboxLoginError" in result.error
    assert "not-the-password" not in caplog.text and "not-the-password" not in repr(wrong)
    assert in_folder(mailbox, "INBOX") != []  # left for a poll that can log in


def test_the_worker_task_and_the_command_read_the_configured_mailbox(alice, mailbox, settings):
    from django.core.management import call_command

    first, second = sent_deliveries(alice)
    settings.BOUNCE_MAILBOX = mailbox
    deliver(mailbox, dsn(first.email, bounce_address(first)))
    assert tasks.poll_bounce_mailbox().startswith("1 handled (1 changed a delivery)")

    deliver(mailbox, dsn(second.email, bounce_address(second)))
    call_command("poll_bounces")

    assert Delivery.objects.filter(status=DeliveryStatus.BOUNCED).count() == 2


def test_the_poll_schedule_exists_only_while_the_mailbox_is_configured(settings):
    settings.BOUNCE_MAILBOX = BounceMailbox(host="imap.example.com", port=993, user="u", password="p", poll_minutes=5)
    dispatch.ensure_bounce_poll_schedule(now=timezone.now())
    dispatch.ensure_bounce_poll_schedule(now=timezone.now())  # idempotent

    schedule = Schedule.objects.get(name=dispatch.BOUNCE_POLL_SCHEDULE)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        dispatch.BOUNCE_POLL_TASK, Schedule.MINUTES, 5, -1)

    settings.BOUNCE_MAILBOX = None
    dispatch.ensure_bounce_poll_schedule()
    assert not Schedule.objects.filter(name=dispatch.BOUNCE_POLL_SCHEDULE).exists()
    assert tasks.poll_bounce_mailbox() is None  # a schedule left behind does nothing


def test_a_second_poll_schedule_left_by_two_ticks_at_once_is_removed(settings):
    """A migrate and a worker's tick (or two ticks) that both find no schedule both create
    one: two schedules would poll the mailbox twice at once, forever. The next call keeps one."""
    settings.BOUNCE_MAILBOX = BounceMailbox(host="imap.example.com", port=993, user="u", password="p", poll_minutes=5)
    first = dispatch.ensure_bounce_poll_schedule(now=timezone.now())
    Schedule.objects.create(name=dispatch.BOUNCE_POLL_SCHEDULE, func=dispatch.BOUNCE_POLL_TASK,
                            schedule_type=Schedule.MINUTES, minutes=5, repeats=-1, next_run=timezone.now())

    dispatch.ensure_bounce_poll_schedule()

    assert list(Schedule.objects.filter(name=dispatch.BOUNCE_POLL_SCHEDULE)) == [first]
