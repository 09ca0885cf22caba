"""Start-up checks: a misconfigured service is reported as one line naming the variable."""
from email.utils import parseaddr

from django.conf import settings
from django.core.checks import Error, Warning, register

from config import health
from lib import dns_check


@register("services")
def check_redis(app_configs=None, **kwargs):
    if not settings.REDIS_URL:
        return []
    try:
        health.probe_redis(settings.REDIS_URL)
    except Exception as exc:
        return [
            Error(
                f"REDIS_URL: cannot reach Redis at {settings.REDIS_URL} ({exc}).",
                hint="Start Redis, correct REDIS_URL, or unset it to use the embedded defaults.",
                id="backoffice.E001",
            )
        ]
    return []


@register("security", deploy=True)
def check_secret_key(app_configs=None, **kwargs):
    if settings.SECRET_KEY == settings.INSECURE_DEV_KEY:
        return [
            Warning(
                "SECRET_KEY: the built-in development key is in use.",
                hint="Set SECRET_KEY to a long random value in production.",
                id="backoffice.W001",
            )
        ]
    return []


@register("deliverability")
def check_dkim_alignment(app_configs=None, **kwargs):
    """DMARC passes on DKIM only when the signing domain is aligned with the From domain
    (``lib.dns_check.aligned``, the rule the domain check page applies too)."""
    key = settings.DKIM_KEY
    if key is None:
        return []
    from_domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower()
    if dns_check.aligned(key.domain, from_domain):
        return []
    return [
        Warning(
            f"DKIM_DOMAIN: {key.domain} is not the domain of DEFAULT_FROM_EMAIL ({from_domain}) nor its parent; "
            "receivers will not count the signature for DMARC.",
            hint="Set DKIM_DOMAIN to the From domain (or its parent), or change DEFAULT_FROM_EMAIL.",
            id="backoffice.W002",
        )
    ]
