"""Public subscription to a list, double opt-in.

A request on a list's public form (``/subscribe/<token>/``) records a ``Subscription`` and
queues a confirmation mail; nobody joins the list, nor is mailed, before the link in that
mail is used. What is queued is only the subscription's id and the language: the worker
builds the link (a signature of the id and the address, valid SUBSCRIPTION_CONFIRM_MAX_AGE)
when it sends, so no live link sits in the task table (as backoffice/accounts/mail.py does).

Opening the link (GET) shows a page with a button; only its POST confirms, so a mail
scanner that follows links never subscribes anyone. The link works once. Confirming
records the consent (when, from which form, from which IP), adds the client to the list,
and lifts an earlier unsubscribe: a confirmed re-subscription is the person's new word.
"""
import logging
import time

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from lib.mail_backend import queue_in_use
from mailings.models import Client, Subscription, Suppression, SuppressionReason

log = logging.getLogger(__name__)

CONFIRM_SALT = "mailings.subscription.confirm"
FORM_SALT = "mailings.subscription.form"
DELIVER_TASK = "mailings.subscriptions.deliver_confirmation"


def confirm_max_age():
    return getattr(settings, "SUBSCRIPTION_CONFIRM_MAX_AGE", 60 * 60 * 24 * 3)


def min_fill_seconds():
    """A person takes a few seconds to fill the form; a bot posts at once."""
    return getattr(settings, "SUBSCRIPTION_MIN_FILL_SECONDS", 3)


# Requests per hour: per address (a person asking again, or someone bombing an inbox) and
# per IP (one machine filling the form in a loop).
def limits():
    return getattr(settings, "SUBSCRIPTION_RATE_LIMITS", {"address": 3, "ip": 20})


def form_url(client_list):
    return settings.SITE_URL + reverse("subscribe", args=[client_list.subscription_token])


# --- The form's bot checks ---------------------------------------------------------------


def form_stamp(now=None):
    """A signed time of the form's display, carried back by the POST (minimum fill time)."""
    return signing.dumps(int(now if now is not None else time.time()), salt=FORM_SALT)


def filled_too_fast(stamp, now=None):
    """True when the form came back sooner than a person fills it, or without a valid stamp."""
    try:
        shown = signing.loads(stamp or "", salt=FORM_SALT, max_age=24 * 3600)
    except signing.BadSignature:
        return True
    return (now if now is not None else time.time()) - shown < min_fill_seconds()


def over_limit(kind, value):
    """Count one request of ``value`` (an address or an IP); True when past the hour's limit."""
    key = f"mailings:subscribe:{kind}:{value}"
    try:
        cache.add(key, 0, 3600)
        return cache.incr(key) > limits()[kind]
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, 3600)
        return False


# --- Requesting and confirming -----------------------------------------------------------


def request_subscription(*, client_list, email, full_name, ip):
    """Record the request and queue its confirmation mail; returns the Subscription."""
    subscription = Subscription.objects.create(
        client_list=client_list, email=email, full_name=full_name,
        form_token=client_list.subscription_token, requested_ip=ip or None,
    )
    language = translation.get_language() or settings.LANGUAGE_CODE
    if queue_in_use():
        from django_q.tasks import async_task

        subscription_id = subscription.pk
        transaction.on_commit(
            lambda: async_task(DELIVER_TASK, subscription_id, language, task_name="subscription confirmation",
                               save=False)
        )
    else:
        deliver_confirmation(subscription.pk, language)
    return subscription


def deliver_confirmation(subscription_id, language):
    """The worker side: build the link and the message now, and send it."""
    subscription = Subscription.objects.select_related("client_list").filter(pk=subscription_id).first()
    if subscription is None or subscription.confirmed_at is not None:
        return "not sent: no longer wanted"
    with translation.override(language):
        message = build_confirmation(subscription)
    get_connection(settings.MAIL_TRANSPORT_BACKEND, fail_silently=False).send_messages([message])
    return "sent"


def confirmation_token(subscription):
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign(f"{subscription.pk}.{subscription.email}")


def build_confirmation(subscription):
    context = {
        "list": subscription.client_list,
        "link": settings.SITE_URL + reverse("subscribe-confirm", args=[confirmation_token(subscription)]),
        "valid_hours": max(1, confirm_max_age() // 3600),
    }
    message = EmailMultiAlternatives(
        subject=_("Confirm your subscription to “%(list)s”") % {"list": subscription.client_list.name},
        body=render_to_string("mailings/subscribe_email.txt", context),
        to=[subscription.email],
    )
    message.attach_alternative(render_to_string("mailings/subscribe_email.html", context), "text/html")
    return message


class LinkInvalid(Exception):
    """The link is forged, damaged or expired."""


def subscription_from_token(token):
    """The subscription a link names; raises LinkInvalid when it is forged or expired."""
    try:
        value = signing.TimestampSigner(salt=CONFIRM_SALT).unsign(token, max_age=confirm_max_age())
    except signing.BadSignature as error:  # SignatureExpired is one
        raise LinkInvalid from error
    pk, _sep, email = value.partition(".")
    subscription = Subscription.objects.select_related("client_list").filter(pk=pk, email=email).first() \
        if pk.isdigit() else None
    if subscription is None:
        raise LinkInvalid
    return subscription


def confirm(subscription, *, ip, now):
    """Confirm once: the client joins the list; False when the link was already used."""
    with transaction.atomic():
        fresh = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if fresh.confirmed_at is not None:
            return False
        owner_id = fresh.client_list.owner_id
        client = _client_for(owner_id, fresh)
        Suppression.objects.filter(
            owner_id=owner_id, email__iexact=fresh.email, reason=SuppressionReason.UNSUBSCRIBED
        ).delete()
        client.lists.add(fresh.client_list)
        Subscription.objects.filter(pk=fresh.pk).update(confirmed_at=now, confirmed_ip=ip or None, client=client)
    return True


def _client_for(owner_id, subscription):
    """The owner's client with this address (resubscribed), or a new one."""
    client = Client.objects.filter(owner_id=owner_id, email__iexact=subscription.email).first()
    if client is None:
        try:
            with transaction.atomic():
                return Client.objects.create(
                    owner_id=owner_id, email=subscription.email, full_name=subscription.full_name
                )
        except IntegrityError:  # added at the same moment (an import): take that one
            client = Client.objects.get(owner_id=owner_id, email__iexact=subscription.email)
    if client.unsubscribed_at is not None:
        Client.objects.filter(pk=client.pk).update(unsubscribed_at=None)
    return client
