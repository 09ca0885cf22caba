"""The public pages in Debian's Chromium, on a desktop and a phone: rendered with the local
assets only, no horizontal scrolling on a small screen, and the styled 404 page."""
import pytest

from content.tests import factories
from lib.testing.browser import screenshot

pytestmark = pytest.mark.browser

PAGES = [("home", "/"), ("blog", "/blog/"), ("post", None), ("404", "/blog/no-such-post/")]


@pytest.mark.parametrize("device, width", [("desktop", 1280), ("phone", 375)])
def test_public_pages_render_with_local_assets(browser_page, device, width):
    page = browser_page
    post = factories.post(title="Как писать письма, которые читают", body="<p>" + "Слово " * 200 + "</p>")
    for number in range(4):
        factories.post(title=f"Заметка номер {number}")
    page.set_viewport_size({"width": width, "height": 800})
    foreign = []
    page.on("request", lambda request: request.url.startswith(page.base_url) or request.url.startswith("data:") or foreign.append(request.url))

    for name, path in PAGES:
        response = page.goto(page.base_url + (path or post.get_absolute_url()))
        assert response.status == (404 if name == "404" else 200)
        assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("Inter")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways on a {device}"
        screenshot(page, f"site-{name}-{device}")

    assert foreign == []  # no CDN: every asset comes from the site itself


def test_the_language_switcher_changes_the_page_language(browser_page):
    page = browser_page
    page.goto(page.base_url + "/")
    assert page.get_attribute("html", "lang") == "ru"
    with page.expect_navigation():
        page.select_option("select[name=language]", "en")
    assert page.get_attribute("html", "lang") == "en"
    assert page.url.rstrip("/") == page.base_url.rstrip("/")
