"""SpamAssassin in the pre-flight: the real program scores a sample build of the message (DKIM
signature included), the message page shows the score and the rules, and an owner's threshold
holds a run that scores above it. Skips, saying why, where SpamAssassin is not installed."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from decimal import Decimal

import pytest
from django.urls import reverse
from django_q.brokers import get_broker

from lib import dkim
from lib.preflight import SpamScore, SpamUnchecked
from lib.smtp_server import _free_port
from mailings import preflight, tasks
from mailings.forms import MessageForm
from mailings.models import Attempt, Mailing, Message
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.django_db
needs_spamassassin = pytest.mark.skipif(
    shutil.which("spamassassin") is None, reason="SpamAssassin is not installed (apt-get install spamassassin)")

# SpamAssassin's own test string (its rule GTUBE scores 1000): spam by definition, no real spam needed.
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
CLEAN = ("<p>Здравствуйте, {{ full_name }}!</p><p>В субботу библиотека открыта с 10 до 18 часов. "
         'Расписание кружков на декабрь — <a href="https://example.com/schedule">на сайте</a>.</p>')


@pytest.fixture
def signed(settings):
    settings.SITE_URL = "https://example.com"
    settings.DEFAULT_FROM_EMAIL = "Библиотека <news@example.com>"
    settings.DKIM_KEY = dkim.load_key("example.com", "mail2026", dkim.generate_key())


def message_page(client, user, message):
    return client.get(reverse("admin:mailings_message_change", args=[message.pk])).content.decode()


def preflight_block(page):
    block = page[page.index('id="preflight"'):]
    return block[:block.index("</table>") if 'id="spam-rules"' in block else block.index("</ul>")]


@needs_spamassassin
def test_the_sample_is_built_like_a_real_send_and_signed(alice, signed):
    message = Message.objects.create(owner=alice, subject="Расписание", body=CLEAN)
    sample = preflight.sample_build(message)
    assert sample.startswith(b"DKIM-Signature: ") and b"\r\nList-Unsubscribe-Post: " in sample


@needs_spamassassin
def test_spamassassin_scores_a_clean_message_low_and_gtube_very_high(alice, signed):
    clean = preflight.spam_result(Message.objects.create(owner=alice, subject="Расписание", body=CLEAN))
    spammy = preflight.spam_result(Message.objects.create(owner=alice, subject="Offer", body=f"<p>{GTUBE}</p>"))
    assert isinstance(clean, SpamScore) and clean.score < clean.required == 5.0
    assert spammy.score >= 1000 and "GTUBE" in spammy.rules
    gtube = next(rule for rule in spammy.details if rule.name == "GTUBE")
    assert (gtube.points, gtube.description) == (1000.0, "BODY: Generic Test for Unsolicited Bulk Email")
    assert spammy.details[0] == gtube  # most points first


@needs_spamassassin
def test_the_message_page_shows_the_score_and_the_rules(client, alice, signed, sync_queue):
    message = Message.objects.create(owner=alice, subject="Offer", body=f"<p>{GTUBE}</p>")
    client.force_login(alice)

    block = preflight_block(message_page(client, alice, message))

    assert '<li data-problem="1" class="text-red-600">Оценка SpamAssassin: 1' in block
    assert "(он считает спамом от 5,0)." in block
    assert '<td class="pr-3 font-mono">GTUBE</td><td class="pr-3 text-right">1000,0</td>' in block
    assert "<td>BODY: Generic Test for Unsolicited Bulk Email</td>" in block


@needs_spamassassin
def test_the_page_does_not_wait_for_spamassassin_it_asks_a_worker_once(client, alice, signed):
    message = Message.objects.create(owner=alice, subject="Расписание", body=CLEAN)
    client.force_login(alice)
    queued_before = get_broker().queue_size()

    first = preflight_block(message_page(client, alice, message))
    message_page(client, alice, message)  # a reload before the worker is done queues nothing more
    assert "SpamAssassin проверяет письмо; обновите страницу через несколько секунд" in first
    assert get_broker().queue_size() - queued_before == 1

    tasks.score_message(message.pk)  # what the worker does with the queued task
    scored = preflight_block(message_page(client, alice, message))
    assert '<li data-problem="0" class="">Оценка SpamAssassin: ' in scored and 'id="spam-rules"' in scored


def test_without_spamassassin_the_page_says_it_was_not_checked_and_why(client, alice, settings):
    settings.SPAMASSASSIN = "/nonexistent/spamassassin"
    message = Message.objects.create(owner=alice, subject="Расписание", body=CLEAN)
    client.force_login(alice)
    queued_before = get_broker().queue_size()

    block = preflight_block(message_page(client, alice, message))

    assert ("Не проверено SpamAssassin: SpamAssassin не установлен на этом сервере "
            "(пакет Debian spamassassin).") in block
    assert get_broker().queue_size() == queued_before


def test_a_threshold_cannot_be_set_where_spamassassin_is_missing(alice, settings):
    settings.SPAMASSASSIN = "/nonexistent/spamassassin"
    form = type("Form", (MessageForm,), {"owner": alice})(
        data={"subject": "Расписание", "body": CLEAN, "spam_threshold": "5"})
    assert not form.is_valid()
    assert form.errors["spam_threshold"] == [
        "SpamAssassin не установлен на этом сервере, поэтому порог проверить нельзя; оставьте поле пустым."]


def test_the_refusal_rule():
    gtube = SpamScore(1003.2, ("GTUBE",))
    assert preflight.spam_refusal(gtube, None) == ""  # nothing blocks without a threshold
    assert preflight.spam_refusal(SpamScore(5.0, ()), Decimal("5.0")) == ""  # at the threshold: passes
    assert preflight.spam_refusal(gtube, Decimal("5.0")) == (
        "SpamAssassin оценивает письмо в 1003,2, это выше его порога спама 5,0.")
    assert preflight.spam_refusal(SpamUnchecked("timeout", "60"), Decimal("5.0")) == (
        "SpamAssassin не смог оценить письмо (SpamAssassin не ответил за 60 с), а порог спама для него — 5,0.")


@needs_spamassassin
def test_a_threshold_holds_the_gtube_mailing_and_says_why(client, alice, signed, smtp_server):
    mailing = make_mailing(alice, 2, body=f"<p>{GTUBE}</p>")
    Message.objects.filter(pk=mailing.message_id).update(spam_threshold=Decimal("5.0"))

    assert tasks.run_mailing(mailing.pk) is None

    assert not Attempt.objects.filter(mailing=mailing).exists() and smtp_server.messages == []
    mailing.refresh_from_db()
    assert mailing.paused_until is not None
    assert mailing.pause_reason.startswith("Не запущена: SpamAssassin оценивает письмо в 10")
    client.force_login(alice)
    page = client.get(reverse("admin:mailings_mailing_change", args=[mailing.pk])).content.decode()
    assert "выше его порога спама 5,0" in page


@needs_spamassassin
def test_a_clean_message_under_its_threshold_is_sent(alice, signed, smtp_server):
    mailing = make_mailing(alice, 2, body=CLEAN)
    Message.objects.filter(pk=mailing.message_id).update(spam_threshold=Decimal("5.0"))

    tasks.run_mailing(mailing.pk)

    assert Attempt.objects.get(mailing=mailing).sent == 2 and len(smtp_server.messages) == 2
    assert Mailing.objects.get(pk=mailing.pk).pause_reason == ""


# --- spamc with a running spamd -------------------------------------------------------------

needs_spamd = pytest.mark.skipif(
    shutil.which("spamd") is None or shutil.which("spamc") is None,
    reason="spamd/spamc are not installed (apt-get install spamd spamc)")


@pytest.fixture(scope="module")
def spamd():
    """A real spamd on a free loopback port, started for these tests and stopped after."""
    port = _free_port("127.0.0.1")
    command = ["spamd", f"--listen=127.0.0.1:{port}", "--max-children=1", "--local",
               f"--pidfile={tempfile.gettempdir()}/spamd-test-{port}.pid"]
    if os.geteuid() == 0:
        command.append("--username=nobody")  # spamd refuses to run its children as root
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90  # it loads and compiles its rules first
        while time.monotonic() < deadline and process.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.skip("spamd did not start within 90 s")
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # spamd and the children it forked
        process.wait(timeout=30)


@needs_spamd
def test_spamd_scores_through_spamc_and_the_page_shows_it_at_once(client, alice, signed, settings, spamd):
    settings.SPAMD_ADDRESS = spamd
    message = Message.objects.create(owner=alice, subject="Offer", body=f"<p>{GTUBE}</p>")
    client.force_login(alice)
    queued_before = get_broker().queue_size()

    block = preflight_block(message_page(client, alice, message))

    assert '<li data-problem="1" class="text-red-600">Оценка SpamAssassin: 1' in block
    assert '<td class="pr-3 font-mono">GTUBE</td><td class="pr-3 text-right">1000,0</td>' in block
    assert get_broker().queue_size() == queued_before  # no worker needed
    result = preflight.spam_result(message)
    assert result.score >= 1000 and "GTUBE" in result.rules and result.required == 5.0


@needs_spamd
def test_a_spamd_that_does_not_answer_is_said_so(client, alice, settings):
    settings.SPAMD_ADDRESS = f"127.0.0.1:{_free_port('127.0.0.1')}"
    message = Message.objects.create(owner=alice, subject="Расписание", body=CLEAN)
    client.force_login(alice)

    block = preflight_block(message_page(client, alice, message))

    assert f"Не проверено SpamAssassin: spamd на {settings.SPAMD_ADDRESS} не ответил." in block

