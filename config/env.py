"""Reading configuration from the environment, with errors that name the variable.

Settings call these helpers instead of parsing by hand, so that a bad value stops the
process with one readable line (see ``manage.py``) rather than a stack trace.
"""
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from lib import dkim
from lib.bounce_mailbox import BounceMailbox

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
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


class StrictEnv(environ.Env):
    """django-environ's reader, but a boolean or a number it cannot read stops the process.

    django-environ takes any unknown word for false (``HTTPS=ture`` would silently mean
    plain HTTP) and lets ``int()`` fail with a stack trace. Here a boolean is one of
    1/0, true/false, yes/no, on/off (any case) and a number is a number; anything else
    raises ``ConfigError`` naming the variable. An empty value counts as unset (the
    default applies), as ``.env.sample`` leaves optional variables empty.
    """

    def _raw(self, var):
        value = self.ENVIRON.get(var, "").strip()
        return value or None

    @staticmethod
    def _unset(var, default, read):
        """The default; without one, django-environ's own error for a missing variable."""
        return read(var) if default is environ.Env.NOTSET else default

    def bool(self, var, default=environ.Env.NOTSET):
        raw = self._raw(var)
        if raw is None:
            return self._unset(var, default, super().bool)
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise ConfigError(var, f"expected 1/0 (got {raw!r})")

    def int(self, var, default=environ.Env.NOTSET):
        raw = self._raw(var)
        if raw is None:
            return self._unset(var, default, super().int)
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(var, f"expected a whole number (got {raw!r})") from None

    def float(self, var, default=environ.Env.NOTSET):
        raw = self._raw(var)
        if raw is None:
            return self._unset(var, default, super().float)
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(var, f"expected a number (got {raw!r})") from None


def whole_number_at_least(env, var, *, default, minimum):
    """A whole number not below ``minimum`` (a limit of 0 or a negative age would disable a
    protection without saying so)."""
    value = env.int(var, default=default)
    if value < minimum:
        raise ConfigError(var, f"expected a whole number of at least {minimum} (got {value})")
    return value


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
def dkim_key(env):
    """The DKIM signing key from DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE or
    DKIM_PRIVATE_KEY (the PEM itself), or None when DKIM is not configured at all.

    Fails closed: a half configuration, an unreadable file or a key that does not parse
    stops start-up with one line naming the variable (never showing the key).
    """
    domain = env.str("DKIM_DOMAIN", default="").strip()
    selector = env.str("DKIM_SELECTOR", default="").strip()
    key_file = env.str("DKIM_PRIVATE_KEY_FILE", default="").strip()
    key_text = env.str("DKIM_PRIVATE_KEY", default="").strip()
    if not (domain or selector or key_file or key_text):
        return None
    if key_file and key_text:
        raise ConfigError("DKIM_PRIVATE_KEY", "set either DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE, not both")
    if not domain:
        raise ConfigError("DKIM_DOMAIN", "required when a DKIM key is configured")
    if not selector:
        raise ConfigError("DKIM_SELECTOR", "required when a DKIM key is configured")
    if key_file:
        variable = "DKIM_PRIVATE_KEY_FILE"
        try:
            pem = Path(key_file).read_bytes()
        except OSError as exc:
            raise ConfigError(variable, f"cannot read {key_file!r} ({exc.strerror})") from None
    elif key_text:
        # One-line environments (.env, CI secrets) carry the PEM with literal "\n".
        variable, pem = "DKIM_PRIVATE_KEY", key_text.replace("\\n", "\n").encode("ascii", "replace")
    else:
        raise ConfigError("DKIM_PRIVATE_KEY_FILE", "required when DKIM_DOMAIN is set (or DKIM_PRIVATE_KEY)")
    try:
        return dkim.load_key(domain, selector, pem)
    except dkim.InvalidKey as exc:
        raise ConfigError(variable, str(exc)) from None


def domain_rate_limits(env):
    """MAILING_DOMAIN_RATE_LIMITS ("gmail.com=20,mail.ru=10") as {domain: messages per second}."""
    text = env.str("MAILING_DOMAIN_RATE_LIMITS", default="")
    rates = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        domain, _sep, rate = part.partition("=")
        domain = domain.strip().lower()
        try:
            rates[domain] = float(rate)
        except ValueError:
            rates[domain] = -1.0
        if not domain or "@" in domain or not rates[domain] > 0:
            raise ConfigError(
                "MAILING_DOMAIN_RATE_LIMITS",
                f"cannot understand {part!r}; expected domain=messages per second, e.g. gmail.com=20,mail.ru=10",
            )
    return rates


LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
IMAP_SECURITY = ("ssl", "starttls", "none")


def bounce_mailbox(env):
    """BOUNCE_IMAP_* as a ``BounceMailbox``, or None when BOUNCE_IMAP_HOST is unset.

    Fails closed: a host without a user or password, an unknown security word, a plain
    connection to anything but loopback (the password would cross the network in the
    clear), or a number out of range stops start-up with one line naming the variable.
    """
    host = env.str("BOUNCE_IMAP_HOST", default="").strip()
    if not host:
        return None
    security = env.str("BOUNCE_IMAP_SECURITY", default="ssl").strip().lower()
    if security not in IMAP_SECURITY:
        raise ConfigError("BOUNCE_IMAP_SECURITY", f"expected ssl, starttls or none (got {security!r})")
    if security == "none" and host.lower() not in LOOPBACK_HOSTS:
        raise ConfigError(
            "BOUNCE_IMAP_SECURITY",
            f"none (no TLS) is allowed for a loopback host only, not {host!r}; use ssl or starttls")
    user = env.str("BOUNCE_IMAP_USER", default="").strip()
    password = env.str("BOUNCE_IMAP_PASSWORD", default="")
    if not user:
        raise ConfigError("BOUNCE_IMAP_USER", "required when BOUNCE_IMAP_HOST is set")
    if not password:
        raise ConfigError("BOUNCE_IMAP_PASSWORD", "required when BOUNCE_IMAP_HOST is set")
    port = whole_number_at_least(env, "BOUNCE_IMAP_PORT", default=993 if security == "ssl" else 143, minimum=1)
    if port > 65535:
        raise ConfigError("BOUNCE_IMAP_PORT", f"expected a port number up to 65535 (got {port})")
    folder = env.str("BOUNCE_IMAP_FOLDER", default="INBOX").strip() or "INBOX"
    unreadable = env.str("BOUNCE_IMAP_UNREADABLE_FOLDER", default="Unreadable").strip() or "Unreadable"
    if unreadable == folder:
        raise ConfigError("BOUNCE_IMAP_UNREADABLE_FOLDER", "must differ from BOUNCE_IMAP_FOLDER")
    timeout = env.float("BOUNCE_IMAP_TIMEOUT", default=30.0)
    if not timeout > 0:
        raise ConfigError("BOUNCE_IMAP_TIMEOUT", f"expected a number of seconds above 0 (got {timeout})")
    return BounceMailbox(
        host=host, port=port, user=user, password=password, folder=folder, security=security,
        poll_minutes=whole_number_at_least(env, "BOUNCE_IMAP_POLL_MINUTES", default=1, minimum=1),
        timeout=timeout,
        batch=whole_number_at_least(env, "BOUNCE_IMAP_BATCH", default=200, minimum=1),
        unreadable_folder=unreadable,
    )


WEBHOOK_PROVIDERS = ("mailgun", "postmark")


def webhook_secret(env):
    """ANYMAIL_WEBHOOK_SECRET, "user:password" (HTTP basic auth the provider sends), or "".

    Empty: the tracking webhooks answer 404. A value without a colon, or with an empty or
    short password, stops start-up: a guessable secret would let anyone mark deliveries.
    """
    secret = env.str("ANYMAIL_WEBHOOK_SECRET", default="").strip()
    if not secret:
        return ""
    user, colon, password = secret.partition(":")
    if not colon or not user or len(password) < 16:
        raise ConfigError(
            "ANYMAIL_WEBHOOK_SECRET",
            "expected user:password with a password of at least 16 characters "
            "(e.g. python -c 'import secrets; print(\"esp:\" + secrets.token_urlsafe(24))')",
        )
    return secret


def anymail_settings(env):
    """django-anymail's ANYMAIL setting: the webhook secret, and Mailgun's signing key when set."""
    settings = {"WEBHOOK_SECRET": webhook_secret(env)}
    signing_key = env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default="").strip()
    if signing_key:
        settings["MAILGUN_WEBHOOK_SIGNING_KEY"] = signing_key
    return settings


def relay_provider(env):
    """EMAIL_RELAY_PROVIDER: the provider whose SMTP relay sends our mail ("" for none), so
    each message carries the delivery token in the header that provider echoes back."""
    provider = env.str("EMAIL_RELAY_PROVIDER", default="").strip().lower()
    if provider and provider not in WEBHOOK_PROVIDERS:
        raise ConfigError(
            "EMAIL_RELAY_PROVIDER", f"expected one of {', '.join(WEBHOOK_PROVIDERS)} or empty (got {provider!r})")
    return provider
def dns_resolver(env):
    """DNS_RESOLVER: the DNS server the domain check asks ("127.0.0.1:5353", "[::1]:53",
    "8.8.8.8"), or "" for the system's resolver (/etc/resolv.conf)."""
    from lib.dns_check import split_address

    text = env.str("DNS_RESOLVER", default="").strip()
    if not text:
        return ""
    try:
        host, port = split_address(text)
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            "DNS_RESOLVER", f"cannot understand {text!r}; expected an IP address with an optional port, "
            "e.g. 127.0.0.1:5353 or [::1]:53",
        ) from None
    if not 0 < port < 65536:
        raise ConfigError("DNS_RESOLVER", f"{port} is no port number")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def spamd_address(env):
    """SPAMD_ADDRESS: "host:port" of a running spamd that scores messages through spamc, or ""."""
    text = env.str("SPAMD_ADDRESS", default="").strip()
    if not text:
        return ""
    host, _sep, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c.isspace() for c in host):
        raise ConfigError("SPAMD_ADDRESS", f"cannot understand {text!r}; expected host:port, e.g. 127.0.0.1:783")
    return text
