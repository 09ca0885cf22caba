"""Pre-flight of a message (lib/preflight.py) as its owner reads it on the message page, and
the owner's spam threshold that a run must pass to start.

A sample of the message is built exactly as the send path builds it (``PreparedMessage``,
then the DKIM signature the transport adds) and checked; the findings are sentences in the
reader's language. SpamAssassin takes seconds (it loads its rules on every run), so its
result is cached by what the build depends on (``spam_key``): the page shows a cached
score or queues the scoring to a worker (``mailings.tasks.score_message``) and says so;
the run start path (``refuse_spammy_run``) scores in the worker, where waiting is fine.
With a running spamd (``SPAMD_ADDRESS``) spamc answers in well under a second, and the
page scores at once, waiting at most SPAMD_PAGE_TIMEOUT.
"""
import hashlib
import json
import logging
from datetime import timedelta
from email.utils import formatdate

from django.conf import settings
from django.core.cache import cache
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from lib import dkim, preflight
from lib.preflight import SpamScore, SpamUnchecked
from mailings import dispatch
from mailings.models import Mailing, Message
from mailings.rendering import PreparedMessage, Recipient
from mailings.runs.state import hold_start

logger = logging.getLogger(__name__)

SAMPLE = Recipient(delivery_id=0, client_id=0, email="ivan.petrov@example.com", full_name="Ivan Petrov",
                   unsubscribed=False, tries=0)
SPAM_CACHE_SECONDS = 7 * 24 * 3600  # a score holds while the message and the set-up stay the same
SPAM_RETRY_SECONDS = 300  # a timeout or failure is tried again after this
SPAM_QUEUED_SECONDS = 120  # one queued scoring per message and set-up at a time
SPAM_HOLD = timedelta(minutes=5)  # a refused mailing is tried again after this (the message may be fixed)
SPAMD_PAGE_TIMEOUT = 5  # seconds the page waits for spamd


def _prepared(message):
    return PreparedMessage(subject=message.subject, body=message.body, from_email=settings.DEFAULT_FROM_EMAIL,
                           site_url=settings.SITE_URL, run_id=0)


def sample_build(message):
    """The bytes a recipient's server would receive: built and signed as a real send does."""
    data = _prepared(message).build(SAMPLE, formatdate(usegmt=True))
    return dkim.sign(data, settings.DKIM_KEY) if settings.DKIM_KEY is not None else data


def findings(message):
    """(is_problem, sentence) for each thing the check found about a sample build of ``message``."""
    prepared = _prepared(message)
    result = preflight.check(prepared.build(SAMPLE, formatdate(usegmt=True)),
                             unsubscribe_prefix=prepared.unsubscribe_prefix, spamassassin=False)
    return _size(result) + _links(result) + _unsubscribe(result)


def _size(result):
    kilobytes = round(result.size / 1024)
    if result.too_big:
        return [(True, _("The message is %(size)s KB: Gmail cuts off messages over about 100 KB.")
                 % {"size": kilobytes})]
    return [(False, _("Size: %(size)s KB.") % {"size": kilobytes})]


def _links(result):
    found = [(False, _("Links: %(count)s.") % {"count": len(result.links)})]
    for link in result.insecure_links:
        found.append((True, _("A link is not over https: %(url)s") % {"url": link.url}))
    for link in result.mismatched_links:
        found.append((True, _("A link shows one address and leads to another: %(text)s → %(url)s")
                      % {"text": link.text, "url": link.url}))
    return found


def _unsubscribe(result):
    found = []
    if not result.has_unsubscribe_header:
        found.append((True, _("The one-click unsubscribe header is missing.")))
    if not result.has_unsubscribe_link:
        found.append((True, _("The unsubscribe link is missing.")))
    return found


# --- SpamAssassin ---------------------------------------------------------------------------


def spam_key(message):
    """What the score depends on: the message's text and everything the build adds to it."""
    key = settings.DKIM_KEY
    parts = [message.subject, message.body, settings.DEFAULT_FROM_EMAIL, settings.SITE_URL, settings.SPAMASSASSIN,
             settings.SPAMD_ADDRESS, [key.domain, key.selector, hashlib.sha256(key.private_key).hexdigest()] if key else None]
    return "preflight:spam:" + hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def _cache_call(method, *args):
    try:
        return getattr(cache, method)(*args)
    except Exception:  # noqa: BLE001 - any cache backend failure: the score is computed again
        logger.warning("pre-flight: the cache did not answer (%s)", method)
        return None


def _spam_program():
    """The program that scores: spamc when a spamd is configured, else spamassassin itself."""
    return "spamc" if settings.SPAMD_ADDRESS else settings.SPAMASSASSIN


def spam_check_available():
    """Whether the program that scores is on this machine."""
    return preflight.spamassassin_available(_spam_program())


def spam_result(message, timeout=None):
    """SpamAssassin's result for a sample build of ``message``: cached, or scored now (seconds)."""
    key = spam_key(message)
    result = _cache_call("get", key)
    if result is None:
        result = preflight.spam_check(sample_build(message), command=settings.SPAMASSASSIN,
                                      timeout=timeout or settings.SPAMASSASSIN_TIMEOUT, spamd=settings.SPAMD_ADDRESS)
        if isinstance(result, SpamScore):
            _cache_call("set", key, result, SPAM_CACHE_SECONDS)
        elif result.reason != "not_installed":  # checked again at once when it is installed
            _cache_call("set", key, result, SPAM_RETRY_SECONDS)
    return result


def spam_result_for_page(message):
    """The result without waiting for SpamAssassin: cached, or None after queueing the scoring
    to a worker (the page says it is being checked)."""
    if not spam_check_available():
        return SpamUnchecked("not_installed", _spam_program())
    if settings.SPAMD_ADDRESS:
        return spam_result(message, timeout=min(SPAMD_PAGE_TIMEOUT, settings.SPAMASSASSIN_TIMEOUT))
    key = spam_key(message)
    result = _cache_call("get", key)
    if result is None and _cache_call("add", f"{key}:queued", 1, SPAM_QUEUED_SECONDS) is not False:
        try:
            dispatch.enqueue("mailings.tasks.score_message", message.pk)
        except Exception as exc:  # noqa: BLE001 - a broker that is down must not break the page
            logger.warning("pre-flight: could not queue the scoring of message %s (%s)", message.pk, exc)
            return SpamUnchecked("not_queued")
        result = _cache_call("get", key)  # a synchronous queue (tests) has scored it already
    return result


def spam_refusal(result, threshold):
    """Why a run of a message with this SpamAssassin ``result`` may not start, or "".

    The one rule: nothing is blocked without a threshold; with one, a run starts only on a
    score at or below it. A message SpamAssassin could not score is held too, since the
    owner asked for the check: the reason says why and it is tried again.
    """
    if threshold is None:
        return ""
    limit = number_format(threshold, 1)
    if isinstance(result, SpamUnchecked):
        return _("SpamAssassin could not score the message (%(why)s), and its spam score threshold is "
                 "%(threshold)s.") % {"why": unchecked_reason(result), "threshold": limit}
    if result.score > threshold:
        return _("SpamAssassin scores the message %(score)s, above its spam score threshold of %(threshold)s.") % {
            "score": number_format(result.score, 1), "threshold": limit}
    return ""


def refuse_spammy_run(*, mailing_id, now):
    """Called by the run start path before a run is claimed: when the message's owner set a
    threshold and the message does not pass it, the mailing is held for SPAM_HOLD with the
    reason shown on its page (``pause_reason``), and the reason is returned; "" lets it start."""
    mailing = Mailing.objects.filter(pk=mailing_id).select_related("message").first()
    if mailing is None or mailing.message.spam_threshold is None:
        return ""
    reason = spam_refusal(spam_result(mailing.message), mailing.message.spam_threshold)
    if reason:
        hold_start(mailing_id=mailing_id, until=now + SPAM_HOLD, reason=reason)
    return reason


def score_message(message_id):
    """The worker's side of ``spam_result_for_page``."""
    message = Message.objects.filter(pk=message_id).first()
    if message is not None:
        spam_result(message)


def unchecked_reason(result):
    if result.reason == "not_installed" and result.detail == "spamc":
        return _("spamc is not installed on this server (Debian package spamc)")
    if result.reason == "not_queued":
        return _("the task queue did not answer")
    if result.reason == "spamd_unreachable":
        return _("spamd at %(address)s did not answer") % {"address": result.detail}
    if result.reason == "not_installed":
        return _("SpamAssassin is not installed on this server (Debian package spamassassin)")
    if result.reason == "timeout":
        return _("SpamAssassin did not answer within %(seconds)s s") % {"seconds": result.detail}
    return _("SpamAssassin failed: %(error)s") % {"error": result.detail}


def spam_findings(message):
    """(is_problem, sentence) about SpamAssassin's score, and the rules it hit (SpamRule)."""
    result = spam_result_for_page(message)
    threshold = message.spam_threshold
    if result is None:
        return [(False, _("SpamAssassin is checking the message; reload the page in a few seconds to see "
                          "its score."))], ()
    found, rules = [], ()
    if isinstance(result, SpamUnchecked):
        found.append((False, _("Not checked by SpamAssassin: %(why)s.") % {"why": unchecked_reason(result)}))
    else:
        found.append((result.score >= result.required, _(
            "SpamAssassin score: %(score)s (it calls %(required)s and more spam).") % {
            "score": number_format(result.score, 1), "required": number_format(result.required, 1)}))
        rules = result.details
    refusal = spam_refusal(result, threshold)
    if refusal:
        found.append((True, refusal + " " + _("Mailings with this message do not start until the message is "
                                              "changed or the threshold raised.")))
    elif threshold is not None:
        found.append((False, _("Spam score threshold: %(threshold)s; the message passes it.") % {
            "threshold": number_format(threshold, 1)}))
    return found, rules
