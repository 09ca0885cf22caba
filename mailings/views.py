"""The public pages: unsubscribe (RFC 8058 one-click included) and a list's subscription form."""
from django.core import signing
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from backoffice.accounts.client_ip import client_ip
from mailings import audience, subscriptions
from mailings.forms import SubscribeForm
from mailings.models import Client, ClientList, SuppressionReason
from mailings.rendering import client_id_from_token
from mailings.signals import figures_changed


def unsubscribe_client(client, *, now):
    """Mark the client unsubscribed and suppress the address (idempotent); later runs skip them.

    The suppression is what outlives the client row: deleted and imported again, the address
    is still skipped.
    """
    audience.suppress(client.owner_id, client.email, SuppressionReason.UNSUBSCRIBED)
    if client.unsubscribed_at is None:
        Client.objects.filter(pk=client.pk, unsubscribed_at__isnull=True).update(unsubscribed_at=now)
        client.unsubscribed_at = now
    figures_changed.send(sender=Client, mailing_id=None)


# The signed token authenticates the request, and mail clients' one-click POST (RFC 8058)
# carries no CSRF token: the POST must be accepted without one.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    try:
        client = Client.objects.filter(pk=client_id_from_token(token)).first()
    except signing.BadSignature:
        client = None
    if client is None:
        return render(request, "mailings/unsubscribe_invalid.html", status=404)
    if request.method == "POST":
        unsubscribe_client(client, now=timezone.now())
        return render(request, "mailings/unsubscribe_done.html", {"client": client})
    return render(request, "mailings/unsubscribe_confirm.html", {"client": client})


@csrf_exempt  # a mail client's one-click POST to a test message's link carries no CSRF token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_test(request):
    """The link of a test send (and of a preview): nobody to unsubscribe; says so."""
    return render(request, "mailings/unsubscribe_test.html")


# --- Public subscription (mailings.subscriptions: double opt-in) --------------------------


def _public_list(token):
    return ClientList.objects.filter(subscription_token=token, subscription_enabled=True).first()


@never_cache
@require_http_methods(["GET", "POST"])
def subscribe(request, token):
    client_list = _public_list(token)
    if client_list is None:
        return render(request, "mailings/subscribe_invalid.html", status=404)
    if request.method == "GET":
        form = SubscribeForm(initial={"email": request.GET.get("email", "")[:254], "stamp": subscriptions.form_stamp()})
        return render(request, "mailings/subscribe_form.html", {"form": form, "list": client_list})
    form = SubscribeForm(request.POST)
    if not form.is_valid():
        return _form_again(request, form, client_list)
    if form.cleaned_data["website"]:
        # A bot: it is told what a person is told, and nothing happens.
        return render(request, "mailings/subscribe_sent.html", {"list": client_list})
    if subscriptions.filled_too_fast(form.cleaned_data["stamp"]):
        form.add_error(None, _("The form was sent too quickly. Please check it and send it again."))
        return _form_again(request, form, client_list)
    ip = client_ip(request)
    if subscriptions.over_limit("ip", ip) or subscriptions.over_limit("address", form.cleaned_data["email"]):
        form.add_error(None, _("Too many requests. Please try again in an hour."))
        return _form_again(request, form, client_list, status=429)
    subscriptions.request_subscription(
        client_list=client_list, email=form.cleaned_data["email"], full_name=form.cleaned_data["full_name"], ip=ip,
    )
    return render(request, "mailings/subscribe_sent.html", {"list": client_list})


def _form_again(request, form, client_list, status=400):
    """The form with its errors and a fresh stamp (the time counts from now)."""
    data = form.data.copy()
    data["stamp"] = subscriptions.form_stamp()
    form.data = data
    return render(request, "mailings/subscribe_form.html", {"form": form, "list": client_list}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def subscribe_confirm(request, token):
    try:
        subscription = subscriptions.subscription_from_token(token)
    except subscriptions.LinkInvalid:
        return render(request, "mailings/subscribe_invalid.html", status=404)
    if subscription.confirmed_at is not None:
        return render(request, "mailings/subscribe_done.html", {"subscription": subscription, "again": True})
    if request.method == "GET":
        # Only the POST confirms: a mail scanner that opens the link changes nothing.
        return render(request, "mailings/subscribe_confirm.html", {"subscription": subscription})
    done = subscriptions.confirm(subscription, ip=client_ip(request), now=timezone.now())
    return render(request, "mailings/subscribe_done.html", {"subscription": subscription, "again": not done})
