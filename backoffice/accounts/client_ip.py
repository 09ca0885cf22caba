"""The client's address for login throttling (django-axes' ``AXES_CLIENT_IP_CALLABLE``).

Behind the TLS proxy every request comes from the proxy's address: throttling on it would
let anyone lock anyone out. ``X-Forwarded-For`` is read only when the direct peer
(``REMOTE_ADDR``) is one of ``TRUSTED_PROXIES``, and from the right: each trusted proxy
appends the address it saw, so the first entry from the right that is not a trusted proxy
is the real client. Entries further left are whatever the client sent and are ignored, and
a client that is not a trusted proxy cannot change its address with the header at all.
"""
import functools
import ipaddress

from django.conf import settings


@functools.lru_cache(maxsize=8)
def _networks(trusted):
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _is_trusted_proxy(address):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request):
    address = request.META.get("REMOTE_ADDR", "")
    if not _is_trusted_proxy(address):
        return address
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for entry in reversed([entry for entry in forwarded if entry]):
        if not _is_trusted_proxy(entry):
            try:
                return str(ipaddress.ip_address(entry))
            except ValueError:  # not an address: no proxy wrote that, so stop at the last trusted hop
                return address
        address = entry
    return address
