"""One date-time format per language, in the user's time zone; readable breadcrumbs
(issue #13, item 11)."""
import datetime as dt

import pytest

from backoffice.tests.factories import PASSWORD
from lib.testing.browser import browser_login, screenshot
from mailings.models import Attempt, AttemptStatus, Client, Mailing, Message

pytestmark = pytest.mark.browser

STARTED = dt.datetime(2026, 11, 27, 11, 5, tzinfo=dt.timezone.utc)  # 14:05 in Moscow


@pytest.fixture
def attempt(alice):
    message = Message.objects.create(owner=alice, subject="Новости", body="<p>Привет</p>")
    mailing = Mailing.objects.create(owner=alice, message=message, start_at=STARTED)
    mailing.clients.add(Client.objects.create(owner=alice, email="ann@example.com"))
    attempt = Attempt.objects.create(mailing=mailing, scheduled_for=STARTED, status=AttemptStatus.SUCCESS, finished_at=STARTED)
    Attempt.objects.filter(pk=attempt.pk).update(started_at=STARTED)  # auto_now_add
    return attempt


def test_the_attempt_page_shows_one_format_in_moscow_time(browser_page, alice, attempt):
    page = browser_page
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    page.goto(page.base_url + f"/admin/mailings/attempt/{attempt.pk}/change/")
    text = page.locator("body").inner_text()
    screenshot(page, "attempt-dates-ru")
    assert "27 ноября 2026 г. 14:05" in page.title() + page.locator("#content, main").first.inner_text()
    assert "2026-11-27" not in text and "11:05" not in text and "27.11.2026" not in text


def test_english_breadcrumbs_stay_readable_on_a_phone(browser_page, alice, attempt):
    page = browser_page
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": page.base_url}])
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(page.base_url + f"/admin/mailings/attempt/{attempt.pk}/change/")
        screenshot(page, f"attempt-breadcrumbs-en-{width}")
        crumbs = page.locator(".breadcrumb-part:visible")
        names = [crumbs.nth(i).inner_text() for i in range(crumbs.count())]
        assert names[-1] == "#%d Новости · Nov. 27, 2026, 2:05 p.m." % attempt.mailing.pk
        if width == 1280:
            assert names[:2] == ["Mailings", "Attempts"]
        # Every name shown is shown whole, not cut to "M…"
        for i in range(crumbs.count()):
            assert crumbs.nth(i).evaluate("e => e.scrollWidth <= e.clientWidth"), (width, names[i])
