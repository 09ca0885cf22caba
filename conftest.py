"""Shared fixtures: named users for every role, a real SMTP server on loopback, a browser.

The builders behind them live in importable modules (backoffice/tests/factories.py,
lib/testing/browser.py, mailings/tests/factories.py): tests import those, never this file.
"""
import pytest

from backoffice import permissions
from backoffice.tests.factories import make_superuser, make_user
from lib.smtp_server import LocalSMTPServer
from lib.testing.browser import ARTIFACTS_DIR, CHROMIUM, LAUNCH_ARGS
from mailings.tests.factories import make_outcomes


@pytest.fixture(autouse=True)
def _isolated_cache(settings, tmp_path):
    """Each test gets its own cache namespace, so cached pages never leak between tests.

    Django rebuilds its cache handlers when the CACHES setting changes.
    """
    # tmp_path's name repeats from one pytest run to the next, and the file cache outlives
    # the run: a random part keeps entries of an earlier run out of reach.
    import uuid

    default = {**settings.CACHES["default"], "KEY_PREFIX": f"test-{tmp_path.name}-{uuid.uuid4().hex[:8]}"}
    if default["BACKEND"].endswith("FileBasedCache"):
        # A directory of its own: the file cache culls a third of its entries past 300, which
        # would otherwise drop other tests' entries when tests run in parallel.
        default["LOCATION"] = str(tmp_path / "cache")
    settings.CACHES = {**settings.CACHES, "default": default}


@pytest.fixture
def sync_queue(monkeypatch):
    """django-q2 runs queued tasks inline (Q_CLUSTER sync), so tests see the whole path."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free loopback port; settings point Django's e-mail at it."""
    server = LocalSMTPServer().start()
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.stop()


@pytest.fixture
def alice(db):
    return make_user("alice@example.com", permissions.USERS, full_name="Alice")


@pytest.fixture
def bob(db):
    return make_user("bob@example.com", permissions.USERS, full_name="Bob")


@pytest.fixture
def manager(db):
    return make_user("manager@example.com", permissions.MANAGERS, full_name="Manager")


@pytest.fixture
def content_manager(db):
    return make_user("content@example.com", permissions.CONTENT_MANAGERS, full_name="Content")


@pytest.fixture
def superuser(db):
    return make_superuser("root@example.com")


@pytest.fixture
def outcomes(alice, bob):
    """Alice and Bob's mailings, runs and deliveries of every outcome (make_outcomes)."""
    return make_outcomes(alice, bob)


@pytest.fixture
def browser_page(live_server, transactional_db, monkeypatch):
    """A Playwright page in Debian's Chromium against the live test server.

    Skipped, with the reason, where Chromium or Playwright is absent. Screenshots go to
    test-artifacts/ (kept by CI as artifacts).
    """
    import os
    import shutil

    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package (requirements-dev.txt)")
    # Playwright's sync API runs an event loop; the test's ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=LAUNCH_ARGS,
        )
        context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15000)
        page.base_url = live_server.url
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def english(settings):
    """Assert English texts: the service speaks Russian by default (use with usefixtures)."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
