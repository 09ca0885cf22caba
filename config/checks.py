"""Start-up checks: a misconfigured service is reported as one line naming the variable."""
from django.conf import settings
from django.core.checks import Error, Warning, register

from config import health


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
