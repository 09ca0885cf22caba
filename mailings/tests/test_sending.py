"""The sending engine against a real SMTP server on loopback."""
import datetime
import email.policy
from email import message_from_bytes

import pytest
from django.core.management import call_command
from django.test import Client as HttpClient
from django.utils import timezone

from backoffice.accounts.service import block_user
from mailings import dispatch, services, tasks
from mailings.delivery import loop, progress, throttle
from mailings.models import Attempt, AttemptKind, AttemptStatus, Delivery, DeliveryStatus, MailingStatus
from mailings.runs import claim
from mailings.tests.factories import make_mailing

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def run_now(mailing, now=None):
    now = now or timezone.now()
    services.mailing_saved(mailing=mailing, now=now)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=now)
    assert attempt is not None
    return loop.deliver(attempt)


def parsed(received):
    return message_from_bytes(received.data, policy=email.policy.default)


def test_each_client_gets_a_personal_message_with_html_and_text(alice, smtp_server):
    mailing = make_mailing(alice, 3, subject="Привет, {{ full_name }}!", body="<p>Hi {{full_name}} &lt;{{ email }}&gt;</p>")

    attempt = run_now(mailing)

    assert attempt.status == AttemptStatus.SUCCESS
    assert (attempt.recipients, attempt.sent, attempt.failed, attempt.unknown) == (3, 3, 0, 0)
    assert sorted(smtp_server.recipients()) == ["c00000@example.org", "c00001@example.org", "c00002@example.org"]
    by_rcpt = {r.rcpt_tos[0]: parsed(r) for r in smtp_server.messages}
    message = by_rcpt["c00001@example.org"]
    assert message["Subject"] == "Привет, Client 1!"
    assert message["To"] == "Client 1 <c00001@example.org>"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Hi Client 1 &lt;c00001@example.org&gt;" in html
    assert "Hi Client 1 <c00001@example.org>" in text


def test_every_message_carries_a_working_one_click_unsubscribe(alice, smtp_server, settings):
    settings.SITE_URL = "https://mail.example.com"
    mailing = make_mailing(alice, 1)

    run_now(mailing)

    message = parsed(smtp_server.messages[0])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://mail.example.com/unsubscribe/")
    assert url in message.get_body(("html",)).get_content()
    assert url in message.get_body(("plain",)).get_content()
    response = HttpClient(enforce_csrf_checks=True).post(url.removeprefix("https://mail.example.com"))
    assert response.status_code == 200
    assert mailing.clients.get().unsubscribed_at is not None


def test_the_attempt_tells_the_servers_words_not_a_made_up_code(alice, smtp_server):
    attempt = run_now(make_mailing(alice, 2))

    assert "250 Message accepted for delivery" in attempt.server_response
    reply = Delivery.objects.filter(attempt=attempt).values_list("smtp_code", "smtp_response").first()
    assert reply == (250, "Message accepted for delivery")


def test_one_connection_serves_a_whole_batch(alice, smtp_server, settings):
    settings.MAILING_BATCH_SIZE = 50
    mailing = make_mailing(alice, 120)
    smtp_server.connections = 0

    run_now(mailing)

    assert len(smtp_server.messages) == 120
    assert smtp_server.connections <= 3  # one per batch of 50


def test_unsubscribed_clients_are_skipped(alice, smtp_server):
    mailing = make_mailing(alice, 3)
    mailing.clients.filter(email="c00001@example.org").update(unsubscribed_at=timezone.now())

    attempt = run_now(mailing)

    assert "c00001@example.org" not in smtp_server.recipients()
    assert Delivery.objects.get(attempt=attempt, email="c00001@example.org").status == DeliveryStatus.SKIPPED
    assert (attempt.sent, attempt.status) == (2, AttemptStatus.SUCCESS)


def test_a_client_unsubscribing_during_a_run_is_skipped_from_the_next_batch(alice, smtp_server, settings):
    settings.MAILING_BATCH_SIZE = 1
    mailing = make_mailing(alice, 2)
    services.mailing_saved(mailing=mailing)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now())
    mailing.clients.filter(email="c00001@example.org").update(unsubscribed_at=timezone.now())

    loop.deliver(attempt)

    assert smtp_server.recipients() == ["c00000@example.org"]


def test_a_permanent_refusal_is_recorded_and_not_retried(alice, smtp_server):
    smtp_server.behaviour.reject_rcpt = {"c00001@example.org": "550 5.1.1 No such user here"}
    mailing = make_mailing(alice, 3)

    attempt = run_now(mailing)

    assert attempt.status == AttemptStatus.FAILURE
    assert (attempt.sent, attempt.failed) == (2, 1)
    failed = Delivery.objects.get(attempt=attempt, email="c00001@example.org")
    assert (failed.status, failed.smtp_code, failed.tries) == (DeliveryStatus.FAILED, 550, 1)
    assert "5.1.1 No such user here" in failed.smtp_response
    assert "550 5.1.1 No such user here" in attempt.server_response


def test_a_temporary_failure_pauses_the_run_and_a_later_pass_delivers(alice, smtp_server):
    smtp_server.behaviour.data_reply = "451 4.3.0 Try again later"
    mailing = make_mailing(alice, 2)
    start = timezone.now()

    attempt = run_now(mailing, now=start)

    assert attempt.status == AttemptStatus.PAUSED
    assert Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.DEFERRED, smtp_code=451).count() == 2
    mailing.refresh_from_db()
    assert mailing.paused_until > start
    assert "451 4.3.0 Try again later" in Attempt.objects.get(pk=attempt.pk).server_response
    # Not resumable before the backoff is over ...
    assert claim.claim_resume(attempt_id=attempt.pk, now=start) is None
    smtp_server.behaviour.data_reply = ""
    resumed = claim.claim_resume(attempt_id=attempt.pk, now=mailing.paused_until)

    attempt = loop.deliver(resumed)

    assert attempt.status == AttemptStatus.SUCCESS
    assert sorted(smtp_server.recipients()) == ["c00000@example.org", "c00001@example.org"]
    assert list(Delivery.objects.filter(attempt=attempt).values_list("tries", flat=True)) == [2, 2]


def test_temporary_failures_end_as_failed_after_the_last_try(alice, smtp_server, settings):
    settings.MAILING_MAX_TRIES = 2
    smtp_server.behaviour.data_reply = "452 4.2.2 Mailbox full"
    mailing = make_mailing(alice, 1)
    attempt = run_now(mailing)
    mailing.refresh_from_db()
    resumed = claim.claim_resume(attempt_id=attempt.pk, now=mailing.paused_until)

    attempt = loop.deliver(resumed)

    assert attempt.status == AttemptStatus.FAILURE
    delivery = Delivery.objects.get(attempt=attempt)
    assert (delivery.status, delivery.smtp_code, delivery.tries) == (DeliveryStatus.FAILED, 452, 2)


def test_disabling_a_mailing_stops_its_run_at_the_next_batch(alice, smtp_server, settings):
    settings.MAILING_BATCH_SIZE = 2
    mailing = make_mailing(alice, 6)
    services.mailing_saved(mailing=mailing)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now())

    def disable_after_first_batch(counts):
        services.disable_mailing(mailing=mailing, actor=alice)

    attempt = loop.deliver(attempt, progress=disable_after_first_batch)

    assert len(smtp_server.messages) == 2
    assert attempt.status == AttemptStatus.PAUSED
    assert "disabled" in attempt.server_response
    assert Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.PENDING).count() == 4


def test_enabling_again_continues_the_stopped_run_without_duplicates(alice, smtp_server, settings, sync_queue, django_capture_on_commit_callbacks):
    settings.MAILING_BATCH_SIZE = 2
    mailing = make_mailing(alice, 4)
    services.mailing_saved(mailing=mailing)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now())
    loop.deliver(attempt, progress=lambda counts: services.disable_mailing(mailing=mailing, actor=alice))
    assert len(smtp_server.messages) == 2

    with django_capture_on_commit_callbacks(execute=True):
        services.enable_mailing(mailing=mailing)  # queues the continuation (sync here)

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCESS
    assert sorted(smtp_server.recipients()) == [f"c{i:05d}@example.org" for i in range(4)]


def test_blocking_the_owner_stops_the_run(alice, manager, smtp_server, settings):
    settings.MAILING_BATCH_SIZE = 1
    mailing = make_mailing(alice, 3)
    services.mailing_saved(mailing=mailing)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now())

    attempt = loop.deliver(attempt, progress=lambda counts: block_user(user=alice, actor=manager))

    assert len(smtp_server.messages) == 1
    assert "blocked" in attempt.server_response
    assert claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now()) is None


def test_a_run_is_claimed_once_whoever_asks(alice, smtp_server):
    mailing = make_mailing(alice, 2)
    services.mailing_saved(mailing=mailing)
    now = timezone.now()
    expected = mailing.next_run_at

    by_button = claim.claim_scheduled_run(mailing_id=mailing.pk, now=now, expected=expected)
    by_scheduler = claim.claim_scheduled_run(mailing_id=mailing.pk, now=now)
    by_double_click = claim.claim_scheduled_run(mailing_id=mailing.pk, now=now, expected=expected)

    assert by_button is not None
    assert by_scheduler is None and by_double_click is None
    assert Attempt.objects.filter(mailing=mailing).count() == 1


def test_the_database_refuses_a_second_attempt_for_the_same_run(alice):
    mailing = make_mailing(alice, 1)
    at = timezone.now()
    first = claim.claim_extra_run(mailing_id=mailing.pk, kind=AttemptKind.MANUAL, scheduled_for=at, now=at)
    second = claim.claim_extra_run(mailing_id=mailing.pk, kind=AttemptKind.MANUAL, scheduled_for=at, now=at)

    assert first is not None and second is None


def test_two_claimers_get_disjoint_batches(alice):
    mailing = make_mailing(alice, 5)
    at = timezone.now()
    attempt = claim.claim_extra_run(mailing_id=mailing.pk, kind=AttemptKind.MANUAL, scheduled_for=at, now=at)

    first = progress.claim_batch(attempt.pk, 3)
    second = progress.claim_batch(attempt.pk, 3)
    third = progress.claim_batch(attempt.pk, 3)

    ids = [r.delivery_id for r in first + second]
    assert len(ids) == len(set(ids)) == 5
    assert third == []


def test_a_run_whose_worker_died_is_resumed_only_the_send_in_flight_becomes_unknown(alice, smtp_server, settings):
    settings.MAILING_BATCH_SIZE = 2
    settings.MAILING_STALE_AFTER = 60
    mailing = make_mailing(alice, 5)
    start = timezone.now()
    services.mailing_saved(mailing=mailing, now=start)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=start)
    held = progress.claim_batch(attempt.pk, 2)  # the worker dies holding these...
    in_flight = held[0]  # ...the first inside its SMTP transaction
    Delivery.objects.filter(pk=in_flight.delivery_id).update(status=DeliveryStatus.SENDING)

    assert claim.claim_resume(attempt_id=attempt.pk, now=start + datetime.timedelta(seconds=30)) is None
    resumed = claim.claim_resume(attempt_id=attempt.pk, now=start + datetime.timedelta(seconds=61))
    assert claim.claim_resume(attempt_id=attempt.pk, now=start + datetime.timedelta(seconds=61)) is None
    attempt = loop.deliver(resumed)

    assert in_flight.email not in smtp_server.recipients()
    assert held[1].email in smtp_server.recipients()  # only claimed, never handed to SMTP: sent once
    assert len(smtp_server.recipients()) == len(set(smtp_server.recipients())) == 4
    assert (attempt.sent, attempt.unknown, attempt.status) == (4, 1, AttemptStatus.FAILURE)
    unknown = Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.UNKNOWN)
    assert list(unknown.values_list("email", "tries")) == [(in_flight.email, 0)]
    assert Delivery.objects.get(pk=held[1].delivery_id).tries == 1


def test_a_live_run_is_not_taken_over(alice, settings):
    settings.MAILING_STALE_AFTER = 60
    mailing = make_mailing(alice, 1)
    start = timezone.now()
    services.mailing_saved(mailing=mailing, now=start)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=start)

    assert claim.claim_resume(attempt_id=attempt.pk, now=start + datetime.timedelta(seconds=59)) is None
    assert not dispatch.resumable_attempts(start + datetime.timedelta(seconds=59)).exists()


def test_send_a_test_goes_to_the_given_address_only_and_leaves_the_schedule(alice, smtp_server, sync_queue, django_capture_on_commit_callbacks):
    mailing = make_mailing(alice, 3, start_at=timezone.now() + datetime.timedelta(days=1))
    services.mailing_saved(mailing=mailing)

    with django_capture_on_commit_callbacks(execute=True):
        services.send_test(mailing=mailing, email=alice.email)

    assert smtp_server.recipients() == [alice.email]
    assert parsed(smtp_server.messages[0])["Subject"] == "Hello Alice"
    mailing.refresh_from_db()
    assert mailing.status == MailingStatus.CREATED
    assert mailing.next_run_at > timezone.now()


def test_retry_failed_recipients_sends_only_to_those(alice, smtp_server, sync_queue, django_capture_on_commit_callbacks):
    smtp_server.behaviour.reject_rcpt = {"c00002@example.org": "550 No such user"}
    mailing = make_mailing(alice, 3)
    run_now(mailing)
    smtp_server.reset()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.retry_failed(mailing=mailing)

    assert smtp_server.recipients() == ["c00002@example.org"]
    retry = Attempt.objects.get(mailing=mailing, kind=AttemptKind.RETRY)
    assert (retry.recipients, retry.sent, retry.status) == (1, 1, AttemptStatus.SUCCESS)


def test_retry_with_nothing_failed_does_nothing(alice, smtp_server, sync_queue):
    mailing = make_mailing(alice, 2)
    run_now(mailing)

    assert not services.retry_failed(mailing=mailing)


def test_send_now_of_a_completed_mailing_sends_once_more(alice, smtp_server, sync_queue, django_capture_on_commit_callbacks):
    mailing = make_mailing(alice, 2)
    run_now(mailing)
    mailing.refresh_from_db()
    assert mailing.status == MailingStatus.COMPLETED

    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_now(mailing=mailing)

    assert len(smtp_server.messages) == 4
    assert Attempt.objects.filter(mailing=mailing, kind=AttemptKind.MANUAL).count() == 1


def test_the_rate_limit_spaces_sends():
    clock = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        clock[0] += seconds

    limiter = throttle.SharedRateLimiter(attempt_id=1, rate=4, clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        limiter.wait("c00000@example.org")

    assert slept == [0.25, 0.25]


def test_the_command_sends_due_mailings_with_a_progress_bar(alice, smtp_server, capsys):
    mailing = make_mailing(alice, 3)
    services.mailing_saved(mailing=mailing)

    call_command("run_mailing_sending")

    output = capsys.readouterr().out
    assert "3/3" in output
    assert len(smtp_server.messages) == 3
    assert Attempt.objects.get(mailing=mailing).kind == AttemptKind.SCHEDULED


def test_the_command_sends_one_mailing_on_request(alice, smtp_server, capsys):
    mailing = make_mailing(alice, 2, start_at=timezone.now() + datetime.timedelta(days=3))
    services.mailing_saved(mailing=mailing)

    call_command("run_mailing_sending", "--mailing", str(mailing.pk))

    assert len(smtp_server.messages) == 2
    mailing.refresh_from_db()
    assert mailing.status == MailingStatus.COMPLETED


def test_tasks_take_ids_and_do_nothing_for_a_run_already_taken(alice, smtp_server):
    mailing = make_mailing(alice, 1)
    services.mailing_saved(mailing=mailing)

    first = tasks.run_mailing(mailing.pk)
    second = tasks.run_mailing(mailing.pk)

    assert first.sent == 1 and second is None
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-command-at-a-time"])
def test_both_envelope_styles_report_each_recipient_truthfully(alice, smtp_server, pipelining):
    smtp_server.behaviour.pipelining = pipelining
    smtp_server.behaviour.reject_rcpt = {
        "c00001@example.org": "550 5.1.1 No such user",
        "c00002@example.org": "450 4.2.1 Mailbox busy",
    }
    mailing = make_mailing(alice, 4)

    attempt = run_now(mailing)

    rows = dict(Delivery.objects.filter(attempt=attempt).values_list("email", "smtp_code"))
    statuses = dict(Delivery.objects.filter(attempt=attempt).values_list("email", "status"))
    assert rows == {"c00000@example.org": 250, "c00001@example.org": 550,
                    "c00002@example.org": 450, "c00003@example.org": 250}
    assert statuses["c00001@example.org"] == DeliveryStatus.FAILED
    assert statuses["c00002@example.org"] == DeliveryStatus.DEFERRED
    assert sorted(smtp_server.recipients()) == ["c00000@example.org", "c00003@example.org"]


def test_an_internationalised_address_goes_out_with_smtputf8(alice, smtp_server):
    from mailings.models import Client

    mailing = make_mailing(alice, 0)
    mailing.clients.add(Client.objects.create(owner=alice, email="иван@пример.рф", full_name="Иван"))

    attempt = run_now(mailing)

    assert attempt.sent == 1
    assert smtp_server.recipients() == ["иван@пример.рф"]


def test_a_run_near_the_task_time_limit_hands_over_to_a_new_task(alice, smtp_server, sync_queue,
                                                                 django_capture_on_commit_callbacks):
    mailing = make_mailing(alice, 3)
    services.mailing_saved(mailing=mailing)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=timezone.now())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        handed = loop.deliver(attempt, budget=1e-9)  # the budget is spent before the first batch

    # One new task is queued by the hand-over (other callbacks, e.g. statistics, may follow).
    hand_overs = [callback for callback in callbacks if "hand_over" in callback.__qualname__]
    assert handed.status == AttemptStatus.PAUSED and len(hand_overs) == 1
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCESS  # the new task (run inline here) finished it
    assert sorted(smtp_server.recipients()) == [f"c{i:05d}@example.org" for i in range(3)]
