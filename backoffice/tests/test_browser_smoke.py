import pytest

from backoffice.tests.factories import PASSWORD
from lib.testing.browser import browser_login, screenshot

pytestmark = pytest.mark.browser


def test_a_user_logs_into_the_admin_in_a_real_browser(browser_page, alice):
    browser_login(browser_page, alice.email, PASSWORD)
    browser_page.wait_for_url("**/admin/")
    screenshot(browser_page, "admin-index-user")
    assert "/admin/login/" not in browser_page.url
