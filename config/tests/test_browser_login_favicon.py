"""The admin login offers a forgotten-password link, and no page asks for a missing favicon
(issue #13, item 14)."""
import pytest

from backoffice.tests.factories import PASSWORD
from lib.testing.browser import browser_login, screenshot

pytestmark = pytest.mark.browser


def test_the_admin_login_links_to_the_password_reset(browser_page):
    page = browser_page
    page.goto(page.base_url + "/admin/login/")
    with page.expect_navigation():
        page.get_by_role("link", name="Забыли пароль?").click()
    assert page.url == page.base_url + "/accounts/password-reset/"
    assert page.locator("input[name=email]").is_visible()
    screenshot(page, "admin-password-reset-from-login")


def test_no_page_gets_a_missing_favicon(browser_page, superuser):
    page = browser_page
    missing = []
    page.on("response", lambda response: response.status == 404 and missing.append(response.url))
    browser_login(page, superuser.email, PASSWORD)
    page.wait_for_url("**/admin/")
    for path in ("/admin/", "/admin/mailings/client/", "/", "/blog/"):
        page.goto(page.base_url + path)
        icon = page.locator("link[rel=icon]").first.get_attribute("href")
        assert page.request.get(page.base_url + icon).status == 200, path
    assert page.request.get(page.base_url + "/favicon.ico").status == 200
    assert missing == []
