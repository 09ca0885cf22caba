"""Shared fixtures: named users for every role, and a real SMTP server on loopback."""
import pytest
from django.contrib.auth.models import Group

from backoffice import permissions
from lib.smtp_server import LocalSMTPServer

PASSWORD = "correct-horse-battery-staple"


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


def make_user(django_user_model, email, group=None, **extra):
    from django.utils import timezone

    extra.setdefault("email_verified_at", timezone.now())
    extra.setdefault("is_staff", True)
    user = django_user_model.objects.create_user(email=email, password=PASSWORD, **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def alice(django_user_model):
    return make_user(django_user_model, "alice@example.com", permissions.USERS, full_name="Alice")


@pytest.fixture
def bob(django_user_model):
    return make_user(django_user_model, "bob@example.com", permissions.USERS, full_name="Bob")


@pytest.fixture
def manager(django_user_model):
    return make_user(django_user_model, "manager@example.com", permissions.MANAGERS, full_name="Manager")


@pytest.fixture
def content_manager(django_user_model):
    return make_user(
        django_user_model, "content@example.com", permissions.CONTENT_MANAGERS, full_name="Content"
    )


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(email="root@example.com", password=PASSWORD)


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS_DIR = "test-artifacts"


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
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
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


def screenshot(page, name):
    """Keep a screenshot of the current page as a test artifact."""
    import os

    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, f"{name}.png"), full_page=True)


def browser_login(page, email, password=PASSWORD):
    page.goto(page.base_url + "/admin/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.fixture
def english(settings):
    """Assert English texts: the service speaks Russian by default (use with usefixtures)."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
