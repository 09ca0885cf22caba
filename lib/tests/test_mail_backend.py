"""Every e-mail the service sends goes through the queue: a request never waits on SMTP."""
import pytest
from django.core import mail
from django.test import override_settings

QUEUED = "lib.mail_backend.QueuedEmailBackend"

pytestmark = pytest.mark.django_db


def test_the_project_sends_through_the_queue_by_default():
    from django.conf import settings as project_settings
    import os
    from importlib import import_module

    module = import_module(os.environ["DJANGO_SETTINGS_MODULE"])  # the declared value, not an override

    assert module.EMAIL_BACKEND == QUEUED
    assert project_settings.MAIL_TRANSPORT_BACKEND == "lib.mail_backend.TransportEmailBackend"


def test_send_mail_queues_and_the_worker_delivers_over_smtp(smtp_server, sync_queue, django_capture_on_commit_callbacks):
    with override_settings(EMAIL_BACKEND=QUEUED):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            sent = mail.send_mail("Подтвердите адрес", "Ссылка: https://x/verify/abc/", None, ["dora@example.org"])

    assert sent == 1 and len(callbacks) == 1
    assert smtp_server.recipients() == ["dora@example.org"]
    assert smtp_server.messages[0].message["Subject"] == "Подтвердите адрес"


def test_nothing_touches_smtp_before_the_transaction_commits(smtp_server, sync_queue, django_capture_on_commit_callbacks):
    """A rolled-back request sends nothing; a committed one only queues (no SMTP in the request)."""
    with override_settings(EMAIL_BACKEND=QUEUED):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            mail.send_mail("Reset", "Link", None, ["erin@example.org"])

    assert len(callbacks) == 1
    assert smtp_server.messages == []


def test_queueing_does_not_need_the_mail_server(settings, django_capture_on_commit_callbacks):
    """With the real (asynchronous) queue, sending mail while the SMTP server is down just queues."""
    from django_q.models import OrmQ

    settings.EMAIL_PORT = 1  # nothing listens there
    if "orm" not in settings.Q_CLUSTER:
        pytest.skip("this check reads the ORM broker's queue; the Redis broker is exercised by the e2e test")
    with override_settings(EMAIL_BACKEND=QUEUED):
        with django_capture_on_commit_callbacks(execute=True):
            assert mail.send_mail("Hi", "Body", None, ["frank@example.org"]) == 1

    assert OrmQ.objects.count() == 1


def test_tasks_queued_under_the_old_path_still_resolve():
    from django_q.tasks import async_task  # noqa: F401 - the worker imports the stored path
    from django.utils.module_loading import import_string

    from lib.mail_backend import send_queued_message

    assert import_string("mailings.mail_backend.send_queued_message") is send_queued_message


def test_queued_mail_is_dkim_signed_when_a_key_is_configured(smtp_server, sync_queue, settings,
                                                             django_capture_on_commit_callbacks):
    import dkim as dkimpy

    from lib import dkim

    key = dkim.load_key("example.com", "sel", dkim.generate_key())
    record = dkim.txt_record_value(dkim.public_key_base64(key.private_key)).encode()
    settings.DKIM_KEY = key
    with override_settings(EMAIL_BACKEND=QUEUED):
        with django_capture_on_commit_callbacks(execute=True):
            mail.send_mail("Subscribe?", "Confirm: https://x/", "news@example.com", ["dora@example.org", "eve@example.org"])

    assert sorted(smtp_server.recipients()) == ["dora@example.org", "eve@example.org"]
    for received in smtp_server.messages:
        assert received.data.count(b"DKIM-Signature:") == 1
        assert dkimpy.verify(received.data, dnsfunc=lambda name, timeout=5: record)
