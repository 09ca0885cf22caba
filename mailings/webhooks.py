"""Provider webhooks: bounces and complaints reported by the provider whose SMTP relay carries
our mail, through django-anymail's tracking views and its ``tracking`` signal.

A relay puts its own Return-Path on the message, so our VERP address never comes back from
it; instead each message carries its delivery token in the header the provider turns into
event metadata (``mailings.bounces.relay_headers``, EMAIL_RELAY_PROVIDER), and the event
brings it back. The token is checked as any bounce address's is, and the event goes to the
same rule as a bounce message (``apply_failures`` / ``apply_complaint`` in
``mailings.bounces``): a forged token, or none, changes nothing.

Fails closed. ``/webhooks/<provider>/tracking/`` answers 404 unless ANYMAIL_WEBHOOK_SECRET
is set (and, for Mailgun, MAILGUN_WEBHOOK_SIGNING_KEY: its events are signed too). The
basic-auth secret is checked here before the body is read (401 without it); Mailgun's
signature by anymail (403 when wrong). A body that is too big (413), not a JSON object, or
holds a NUL (400) never reaches anymail, and a payload anymail cannot read answers 400:
nothing changes and nothing answers 500. A database failure answers 503, so the provider
sends the event again later.
"""
import json
import logging

from anymail.exceptions import AnymailConfigurationError, AnymailError, AnymailWebhookValidationFailure
from anymail.signals import EventType, RejectReason
from anymail.utils import get_request_basic_auth
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from django.conf import settings
from django.db import Error as DatabaseFailure
from django.http import Http404, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt

from backoffice.validators import header_safe
from lib import bounces as reading
from mailings.bounces import TOKEN_METADATA_KEY, Outcome, apply_complaint, apply_failures, describe
from mailings.uploads import declared_length

logger = logging.getLogger(__name__)

VIEWS = {
    "mailgun": MailgunTrackingWebhookView.as_view(),
    "postmark": PostmarkTrackingWebhookView.as_view(),
}
MAX_EVENT_BYTES = 1024 * 1024  # one event is a few kB (more only if the provider copies the message in)
# Postmark's bounce types that anymail reports as "bounced" or "complained" but that say
# nothing against the address: a full or unreachable mailbox, a virus or spam filter.
POSTMARK_SOFT_TYPES = {"SoftBounce", "VirusNotification", "SpamNotification"}


def _enabled(provider):
    if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return False
    return provider != "mailgun" or bool(settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY"))


def _authorised(request):
    given = get_request_basic_auth(request) or ""
    return constant_time_compare(given, settings.ANYMAIL["WEBHOOK_SECRET"])


def _answer(status, text, **headers):
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8", headers=headers)


@csrf_exempt
def tracking(request, provider):
    view = VIEWS.get(provider)
    if view is None or not _enabled(provider):
        raise Http404("no such webhook")
    if not _authorised(request):
        return _answer(401, "authentication required", **{"WWW-Authenticate": 'Basic realm="webhooks"'})
    if request.method != "POST":
        return view(request)  # anymail answers HEAD (a provider's URL check) and refuses the rest
    if declared_length(request) > MAX_EVENT_BYTES:
        return _answer(413, "event too large")
    problem = _unreadable(request.body)
    if problem:
        return _answer(400, problem)
    try:
        return view(request)
    except AnymailWebhookValidationFailure:
        return _answer(403, "signature does not match")
    except DatabaseFailure:
        logger.exception("%s webhook: the database failed; the provider will send the event again", provider)
        return _answer(503, "try again later")
    except (AnymailError, AnymailConfigurationError, KeyError, ValueError, TypeError, AttributeError) as error:
        logger.info("%s webhook: unreadable event refused (%s: %s)", provider, type(error).__name__, error)
        return _answer(400, "not an event of this provider")


def _unreadable(body):
    """Why the body is no event (too odd to hand to anymail), or ""."""
    try:
        event = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "not JSON"
    if not isinstance(event, dict):
        return "not a JSON object"
    if _holds_nul(event):
        return "NUL character in the event"
    return ""


def _holds_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def on_tracking(sender, event, esp_name, **kwargs):
    """anymail's ``tracking`` signal (connected in ``MailingsConfig.ready``)."""
    outcome = apply_event(event)
    logger.info("%s webhook: %s event, %s", esp_name, event.event_type, describe(outcome))


def apply_event(event):
    """A provider's normalised event → the bounce rule: a complaint, a hard or a soft bounce
    of the delivery whose token the event's metadata carries; other events change nothing."""
    token = _token(event.metadata)
    if event.event_type == EventType.COMPLAINED and _provider_type(event) != "SpamNotification":
        return apply_complaint(token)
    action = _action(event)
    if action is None:
        return Outcome("ignored")
    diagnostic = _diagnostic(event)
    status = reading.status_of(diagnostic)
    if _provider_type(event) in POSTMARK_SOFT_TYPES:
        severity = reading.SOFT  # the provider says the failure is not about the address
    elif _provider_knows_the_address_is_dead(event):
        severity = reading.HARD  # its words ("previously bounced") name no reason of their own
    else:  # the one rule of every intake, as for a bounce message with these words
        severity = reading.classify(status, diagnostic, action)
    failure = reading.Failure(
        recipient=_clean(event.recipient).lower(), severity=severity, status=status, diagnostic=diagnostic,
    )
    return apply_failures(token, (failure,))


def _action(event):
    """The provider's verdict on a failed delivery, as a delivery status report's action:
    "failed" (permanent), "delayed" (temporary); None when the event reports no failure."""
    if event.event_type == EventType.DEFERRED:
        return "delayed"
    if event.event_type in (EventType.BOUNCED, EventType.COMPLAINED):  # COMPLAINED: a spam filter's notice
        return "failed"
    if event.event_type == EventType.REJECTED and event.reject_reason in (RejectReason.BOUNCED,
                                                                          RejectReason.INVALID):
        return "failed"
    return None


def _provider_knows_the_address_is_dead(event):
    """The provider did not try: the address is on its own bounce list (Mailgun's
    "suppress-bounce", anymail's rejected/bounced) or it found the address invalid (Postmark's
    BadEmailAddress)."""
    if event.reject_reason == RejectReason.INVALID:
        return True
    if event.event_type == EventType.REJECTED and event.reject_reason == RejectReason.BOUNCED:
        return True
    return isinstance(event.esp_event, dict) and event.esp_event.get("event-data", {}).get("reason") == "suppress-bounce"


def _provider_type(event):
    return event.esp_event.get("Type") if isinstance(event.esp_event, dict) else None


def _token(metadata):
    token = metadata.get(TOKEN_METADATA_KEY) if isinstance(metadata, dict) else None
    return token if isinstance(token, str) else None


def _diagnostic(event):
    """The remote server's words as the provider passed them on, else its own description."""
    text = _clean(event.mta_response) or _clean(event.description)
    return text[5:].strip() if text.lower().startswith("smtp;") else text


def _clean(value):
    text = value if isinstance(value, str) else ""
    return " ".join(header_safe(text).split())[:reading.MAX_DIAGNOSTIC]  # the project's one control-character rule
