"""Settings of the mailing back office.

Every value comes from the environment (or ``.env``) with a default that needs no service:
SQLite, a file-based cache shared by web and worker, django-q2 on the database broker.
``.env.sample`` lists every variable with a one-line explanation.
"""
from pathlib import Path

import environ
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

from config.env import (
    StrictEnv, anymail_settings, bounce_mailbox, database_from_url, dkim_key, dns_resolver, domain_rate_limits,
    redis_url, relay_provider, secret_key, spamd_address, trusted_proxies, whole_number_at_least,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = StrictEnv()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Fails closed: with DEBUG off and no SECRET_KEY the process refuses to start (config/env.py).
INSECURE_DEV_KEY = "django-insecure-development-key-change-me"
SECRET_KEY = secret_key(env, debug=DEBUG, development_key=INSECURE_DEV_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = [origin for origin in env.list("CSRF_TRUSTED_ORIGINS", default=[]) if origin]
# `make run` serves HOST:PORT; without an explicit SITE_URL, e-mail links point there.
SERVE_HOST = env.str("HOST", default="127.0.0.1")
SERVE_PORT = env.int("PORT", default=8000)
SITE_URL = (env.str("SITE_URL", default="") or f"http://{SERVE_HOST}:{SERVE_PORT}").rstrip("/")

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "import_export",
    "django_ckeditor_5",
    "django_q",
    "axes",
    "config",
    "backoffice",
    "mailings",
    "content",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF, which reads (and spools) the whole body of a POST.
    "mailings.uploads.RequestSizeLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers throttled logins.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": database_from_url(env, default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and mail catcher share the file: wait for locks instead of failing,
    # and let readers run while the worker writes.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and queue ------------------------------------------------------------------
REDIS_URL = redis_url(env)
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="mailing")
# Parallel test processes (pytest-xdist) share one Redis: each gets its own prefix, hence its
# own queue, or one process's worker takes another's tasks. A worker process a test starts
# inherits both variables and may be handed the suffixed prefix: it is added once.
_TEST_PROCESS = env.str("PYTEST_XDIST_WORKER", default="")
if not CACHE_KEY_PREFIX.endswith(_TEST_PROCESS):
    CACHE_KEY_PREFIX += _TEST_PROCESS
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
else:
    # A file cache is shared by the web and worker processes and, unlike the database
    # cache, a hit costs no SQL query.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(BASE_DIR / env.str("CACHE_DIR", default="var/cache")),
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

# A run longer than this is killed; the resumable run picks up where it stopped.
Q_TIMEOUT = env.int("Q_TIMEOUT", default=1800)
Q_CLUSTER = {
    # The queue (and its signing salt) is the deployment's: two deployments on one Redis
    # with their own CACHE_KEY_PREFIX never take each other's tasks.
    "name": CACHE_KEY_PREFIX,
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 60,
    "max_attempts": 1,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 500,
    "poll": 1,
    "label": _("Task queue"),
}
# Brokers that keep a task they cannot read (bad signature) as a failed task (queue_broker.py).
if REDIS_URL:
    Q_CLUSTER["django_redis"] = "default"
    Q_CLUSTER["broker_class"] = "mailings.queue_broker.RedisBroker"
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["broker_class"] = "mailings.queue_broker.OrmBroker"

# --- Users and login ------------------------------------------------------------------
AUTH_USER_MODEL = "backoffice.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "backoffice.backends.EmailBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "admin:index"
LOGOUT_REDIRECT_URL = "home"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
EMAIL_VERIFICATION_MAX_AGE = env.int("EMAIL_VERIFICATION_MAX_AGE", default=60 * 60 * 24 * 3)
# Account mail (verification, reset): tries for temporary SMTP failures, first delay (doubles).
ACCOUNT_MAIL_MAX_TRIES = env.int("ACCOUNT_MAIL_MAX_TRIES", default=5)
ACCOUNT_MAIL_RETRY_DELAY = env.float("ACCOUNT_MAIL_RETRY_DELAY", default=30)  # s

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Throttle on the real client: X-Forwarded-For counts only from these proxies (client_ip.py).
TRUSTED_PROXIES = trusted_proxies(env)
AXES_CLIENT_IP_CALLABLE = "backoffice.accounts.client_ip.client_ip"

# --- E-mail ---------------------------------------------------------------------------
# Every e-mail goes through the task queue; the worker sends it with MAIL_TRANSPORT_BACKEND.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="lib.mail_backend.QueuedEmailBackend")
MAIL_TRANSPORT_BACKEND = "lib.mail_backend.TransportEmailBackend"  # lib.smtp: DKIM-signed when configured
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=1025)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Рассылки <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
MAILING_RATE_LIMIT = env.float("MAILING_RATE_LIMIT", default=0)  # messages/s, 0 = no limit
RUN_SCHEDULER = env.bool("RUN_SCHEDULER", default=True)
# Sending engine (mailings/runs/, mailings/delivery/): recipients claimed per batch, retries, pauses.
# Per recipient domain, shared by every worker and run: "gmail.com=20,mail.ru=10" (messages/s).
MAILING_DOMAIN_RATE_LIMITS = domain_rate_limits(env)
# Workers delivering one run at once: the one that claimed it plus this many minus one joiners.
MAILING_WORKERS_PER_RUN = env.int("MAILING_WORKERS_PER_RUN", default=1)
MAILING_BATCH_SIZE = env.int("MAILING_BATCH_SIZE", default=500)
MAILING_MAX_TRIES = env.int("MAILING_MAX_TRIES", default=3)  # per recipient, temporary failures
MAILING_RETRY_DELAY = env.float("MAILING_RETRY_DELAY", default=300)  # s, doubled per try
MAILING_CONNECT_RETRIES = env.int("MAILING_CONNECT_RETRIES", default=3)  # failures in a row, then pause
MAILING_CONNECT_BACKOFF = env.float("MAILING_CONNECT_BACKOFF", default=2)  # s, doubled per failure
MAILING_PAUSE = env.float("MAILING_PAUSE", default=600)  # s a run pauses when the server is down
MAILING_STALE_AFTER = env.float("MAILING_STALE_AFTER", default=120)  # s without heartbeat = dead run
# Public double opt-in subscription (mailings/subscriptions.py): how long a confirmation link
# is valid (s), the least time a person takes to fill the form (s; a bot posts at once), and
# requests per hour per address and per client IP.
SUBSCRIPTION_CONFIRM_MAX_AGE = whole_number_at_least(
    env, "SUBSCRIPTION_CONFIRM_MAX_AGE", default=60 * 60 * 24 * 3, minimum=60)
SUBSCRIPTION_MIN_FILL_SECONDS = whole_number_at_least(env, "SUBSCRIPTION_MIN_FILL_SECONDS", default=3, minimum=0)
SUBSCRIPTION_RATE_LIMITS = {
    "address": whole_number_at_least(env, "SUBSCRIPTION_RATE_LIMIT_PER_ADDRESS", default=3, minimum=1),
    "ip": whole_number_at_least(env, "SUBSCRIPTION_RATE_LIMIT_PER_IP", default=20, minimum=1),
}
# Deliverability (docs/deliverability.md). DKIM_KEY is a lib.dkim.DkimKey or None; its repr
# hides the key, and Django's debug pages mask settings named *KEY*.
DKIM_KEY = dkim_key(env)
# Domain of the VERP bounce address bounces+<token>@BOUNCE_DOMAIN (empty: the From domain).
BOUNCE_DOMAIN = env.str("BOUNCE_DOMAIN", default="").strip().lower()
# Soft bounces in a row (reported back for one address) after which it is suppressed.
SOFT_BOUNCE_LIMIT = env.int("SOFT_BOUNCE_LIMIT", default=3)
# Port of `manage.py bounce_server`, the SMTP intake the bounce domain's MX points at.
BOUNCE_SERVER_PORT = env.int("BOUNCE_SERVER_PORT", default=2525)
# The mailbox the worker polls for bounces and complaints (mailings/intake_imap.py): a
# lib.bounce_mailbox.BounceMailbox from BOUNCE_IMAP_*, or None (no polling) when BOUNCE_IMAP_HOST is unset.
BOUNCE_MAILBOX = bounce_mailbox(env)
# Provider webhooks (mailings/webhooks.py, django-anymail): without WEBHOOK_SECRET their URLs
# answer 404; Mailgun's also needs its signing key. EMAIL_RELAY_PROVIDER names the provider
# whose SMTP relay carries our mail, so each message carries its delivery token in the
# header that provider echoes back in its events.
ANYMAIL = anymail_settings(env)
EMAIL_RELAY_PROVIDER = relay_provider(env)
# The domain check page (config/domain_check.py) and the MX check (lib/mail_domain.py) ask
# this DNS server ("host:port"; empty: the system's resolver), each lookup given DNS_TIMEOUT
# seconds.
DNS_RESOLVER = dns_resolver(env)
DNS_TIMEOUT = env.float("DNS_TIMEOUT", default=3)
# The optional MX check of every address people enter (lib/mail_domain.py): off, no DNS is
# asked; on, an address whose domain takes no mail (no such domain, null MX, no MX and no
# address) is refused on the client form, the import, subscription and registration. It asks
# DNS_RESOLVER; a timeout or a failing DNS server accepts the address.
EMAIL_CHECK_MX = env.bool("EMAIL_CHECK_MX", default=False)
# Pre-flight (mailings/preflight.py): the SpamAssassin program that scores a message (found on
# PATH; absent: the message page says it was not checked) and how long it may take.
SPAMASSASSIN = env.str("SPAMASSASSIN", default="spamassassin")
SPAMASSASSIN_TIMEOUT = env.float("SPAMASSASSIN_TIMEOUT", default=60)
# "host:port" of a running spamd: spamc asks it instead (well under a second, so the page
# scores at once); empty: the SPAMASSASSIN program runs per message, in a worker.
SPAMD_ADDRESS = spamd_address(env)

# --- Language and time ----------------------------------------------------------------
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="ru")
LANGUAGES = [("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Moscow")
USE_I18N = True
# Corrections to Django's formats per language (config/formats/ru: "27 ноября").
FORMAT_MODULE_PATH = ["config.formats"]
USE_TZ = True

# --- Static and media -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / env.str("MEDIA_ROOT", default="media")
# COLLECTSTATIC_DONE=1 once collectstatic has run (production).
COLLECTSTATIC_DONE = env.bool("COLLECTSTATIC_DONE", default=False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and COLLECTSTATIC_DONE
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve static files straight from the apps when collectstatic has not been run (make run).
WHITENOISE_USE_FINDERS = not COLLECTSTATIC_DONE
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security -------------------------------------------------------------------------
# HTTPS=1 when the site is served over TLS (production): secure cookies, HSTS, redirect.
HTTPS = env.bool("HTTPS", default=False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Rich text ------------------------------------------------------------------------
CKEDITOR_5_UPLOAD_PATH = "uploads/"
CKEDITOR_5_FILE_UPLOAD_PERMISSION = "staff"
CKEDITOR_5_CONFIGS = {
    "default": {
        "toolbar": {
            "items": [
                "heading", "|", "bold", "italic", "link", "bulletedList", "numberedList",
                "blockQuote", "|", "imageUpload", "insertTable", "|", "undo", "redo",
            ],
        },
        "language": "ru",
    },
}

# --- Admin theme ----------------------------------------------------------------------
UNFOLD = {
    "SITE_TITLE": _("Mailing back office"),
    "SITE_HEADER": _("Mailings"),
    "SITE_SUBHEADER": _("administration and statistics"),
    "SITE_URL": "/",
    "SITE_SYMBOL": "mail",
    "SHOW_HISTORY": True,
    "SHOW_LANGUAGES": True,
    "SHOW_VIEW_ON_SITE": True,
    "STYLES": [lambda request: static("backoffice/admin.css")],
    "SCRIPTS": [
        lambda request: static("backoffice/ckeditor-file-input.js"),
        lambda request: static("backoffice/admin-labels.js"),
    ],
    "SITE_FAVICONS": [
        {"rel": "icon", "type": "image/svg+xml", "href": lambda request: static("site/favicon.svg")},
    ],
    "ENVIRONMENT": "config.navigation.environment_callback",
    "DASHBOARD_CALLBACK": "config.dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "config.navigation.sidebar_navigation",
    },
}
ENVIRONMENT_NAME = env.str("ENVIRONMENT_NAME", default="")

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # aiosmtpd logs every connection of the mail catcher at INFO.
        "mail.log": {"level": "WARNING"},
    },
}

# --- Public site ----------------------------------------------------------------------
# PAGE_CACHE=0 serves the home page and blog without their cache (used by bench/web.py to
# compare); the shared cache itself stays on for everything else.
PAGE_CACHE = env.bool("PAGE_CACHE", default=True)

# --- Statistics -----------------------------------------------------------------------
# Dashboard and report figures are cached this long; the end of a run refreshes them.
STATS_CACHE_SECONDS = env.int("STATS_CACHE_SECONDS", default=60)
# Delivery rows (one per recipient of a run) of runs started more than this many days ago
# are compacted away by an hourly task, their counts kept for every figure
# (mailings/retention.py). 0 keeps every row forever.
DELIVERY_RETENTION_DAYS = env.int("DELIVERY_RETENTION_DAYS", default=0)
