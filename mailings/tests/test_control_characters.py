"""Control characters and NUL in input (issue #9, items 8 and 11).

Names and subjects end up in mail headers, where CR/LF adds a header or ends the header
block; NUL cannot be stored by PostgreSQL. Both are refused where text enters (forms,
import, registration) and the message builder never emits them, whatever is stored.
"""
import email.policy
import io
from email import message_from_bytes

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.accounts.forms import RegistrationForm
from mailings import services
from mailings.delivery import loop
from mailings.forms import ClientForm, MessageForm
from mailings.importing import import_clients
from mailings.models import Client, Mailing, Message
from mailings.runs import claim

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

INJECTION = "Eve\r\nBcc: x@evil.example"


def client_form(owner, **data):
    form_class = type("OwnedClientForm", (ClientForm,), {"owner": owner})
    return form_class(data={"email": "ann@example.com", "full_name": "Ann", "comment": "", **data})


@pytest.mark.parametrize("name", [INJECTION, "Eve\nBcc: x@evil.example", "Eve\x0bX", "Eve\u2028X", "Eve\x85X"])
def test_the_client_form_refuses_a_name_with_a_control_character(alice, name):
    form = client_form(alice, full_name=name)
    assert not form.is_valid()
    assert "control character" in " ".join(form.errors["full_name"])
    assert list(form.errors) == ["full_name"]


def test_the_client_form_accepts_line_breaks_in_a_comment_but_not_nul(alice):
    assert client_form(alice, comment="line one\r\nline two\tend").is_valid()
    form = client_form(alice, comment="bad\x00comment")
    assert not form.is_valid() and list(form.errors) == ["comment"]


def test_nul_in_any_client_form_field_is_a_form_error_not_a_database_error(alice):
    form = client_form(alice, email="ann\x00@example.com", full_name="A\x00nn")
    assert not form.is_valid()
    assert set(form.errors) == {"email", "full_name"}


def test_the_message_form_refuses_a_subject_with_a_line_break(alice):
    form_class = type("OwnedMessageForm", (MessageForm,), {"owner": alice})
    form = form_class(data={"subject": "Hello\r\nBcc: x@evil.example", "body": "<p>Hi</p>"})
    assert not form.is_valid()
    assert list(form.errors) == ["subject"]
    assert "U+000D" in form.errors["subject"][0]


def test_registration_refuses_a_name_with_a_line_break():
    form = RegistrationForm(data={
        "email": "newbie@example.com", "full_name": INJECTION,
        "password1": "s0me-Long-passphrase!", "password2": "s0me-Long-passphrase!",
    })
    assert not form.is_valid()
    assert "control character" in " ".join(form.errors["full_name"])


def test_the_import_refuses_control_characters_with_line_and_column_and_keeps_good_rows(alice):
    raw = (
        'email,full_name,comment\r\n'
        'ann@example.com,Ann,"two\r\nlines are fine"\r\n'
        'eve@example.com,"Eve\r\nBcc: x@evil.example",x\r\n'
        'nul@example.com,N\x00ul,x\r\n'
        'cmt@example.com,Cmt,"a\x00b"\r\n'
        'ben@example.com,Ben,\r\n'
    ).encode()
    report = import_clients(owner=alice, file=io.BytesIO(raw))
    assert report.created == 2
    errors = [(error.line, error.message) for error in report.errors]
    assert [line for line, _message in errors] == [4, 6, 7]
    assert "full_name" in errors[0][1] and "U+000D" in errors[0][1]
    assert "full_name" in errors[1][1] and "U+0000" in errors[1][1]
    assert "comment" in errors[2][1] and "U+0000" in errors[2][1]
    assert sorted(Client.objects.filter(owner=alice).values_list("email", flat=True)) == [
        "ann@example.com", "ben@example.com",
    ]
    assert Client.objects.get(email="ann@example.com").comment == "two\r\nlines are fine"


def test_a_stored_name_with_crlf_cannot_add_a_header(alice, smtp_server):
    """A row saved before validation existed (or from the shell) goes through the real SMTP path."""
    message = Message.objects.create(owner=alice, subject="Hi {{ full_name }}", body="<p>Dear {{ full_name }}</p>")
    mailing = Mailing.objects.create(owner=alice, message=message, start_at=timezone.now())
    client = Client.objects.create(owner=alice, email="victim@example.org", full_name="Victim")
    # Written around every validator, as the shell or raw SQL would.
    Client.objects.filter(pk=client.pk).update(full_name="Victim\r\nBcc: x@evil.example\r\n\r\nInjected body")
    mailing.clients.add(client)
    now = timezone.now()
    services.mailing_saved(mailing=mailing, now=now)
    attempt = claim.claim_scheduled_run(mailing_id=mailing.pk, now=now)

    loop.deliver(attempt)

    assert [received.rcpt_tos for received in smtp_server.messages] == [["victim@example.org"]]
    received = message_from_bytes(smtp_server.messages[0].data, policy=email.policy.default)
    assert received["Bcc"] is None
    assert received.defects == []
    assert received["To"] == '"Victim Bcc: x@evil.example Injected body" <victim@example.org>'
    assert received["Subject"] == "Hi Victim Bcc: x@evil.example Injected body"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"  # the header block is whole

