"""Reading configuration from the environment, with errors that name the variable.

Settings call these helpers instead of parsing by hand, so that a bad value stops the
process with one readable line (see ``manage.py``) rather than a stack trace.
"""
import ipaddress
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}
REDIS_SCHEMES = {"redis", "rediss", "unix"}


class ConfigError(ImproperlyConfigured):
    """A setting from the environment is missing or malformed."""

    def __init__(self, variable, problem):
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


def database_from_url(env, default):
    url = env.str("DATABASE_URL", default=default)
    scheme = urlsplit(url).scheme
    if scheme not in DATABASE_SCHEMES or "://" not in url:
        raise ConfigError(
            "DATABASE_URL",
            f"cannot understand {url!r}; expected e.g. postgres://user:password@host:5432/name "
            "or sqlite:////absolute/path.sqlite3",
        )
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types for bad URLs
        raise ConfigError("DATABASE_URL", f"cannot parse {url!r} ({exc})") from exc
    if config["ENGINE"] != "django.db.backends.sqlite3" and not config.get("NAME"):
        raise ConfigError("DATABASE_URL", f"{url!r} names no database")
    return config


def redis_url(env):
    url = env.str("REDIS_URL", default="")
    if url and urlsplit(url).scheme not in REDIS_SCHEMES:
        raise ConfigError("REDIS_URL", f"cannot understand {url!r}; expected redis://host:6379/0")
    return url


def secret_key(env, *, debug, development_key):
    """SECRET_KEY signs sessions, password-reset, verification and unsubscribe links.

    Without it only a development run (DEBUG=1) may start, on the public development key:
    a production service on that key would let anyone forge those links.
    """
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if debug:
        return development_key
    raise ConfigError(
        "SECRET_KEY",
        "not set; it is required when DEBUG is off (set a long random value, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))')",
    )


def trusted_proxies(env):
    """Addresses or networks (CIDR) of the reverse proxies whose X-Forwarded-For is believed."""
    entries = [entry.strip() for entry in env.list("TRUSTED_PROXIES", default=[]) if entry.strip()]
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ConfigError(
                "TRUSTED_PROXIES", f"{entry!r} is no IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)"
            ) from exc
    return entries
