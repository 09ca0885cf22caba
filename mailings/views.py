"""The public unsubscribe page (RFC 8058 one-click included)."""
from django.core import signing
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from mailings.models import Client
from mailings.rendering import client_id_from_token
from mailings.signals import figures_changed


def unsubscribe_client(client, *, now):
    """Mark the client unsubscribed (idempotent); later runs skip them."""
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
