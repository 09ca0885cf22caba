"""The dashboard and a report in a real browser, with screenshots kept in test-artifacts/."""
import pytest

from backoffice.tests.factories import PASSWORD
from lib.testing.browser import browser_login, screenshot

pytestmark = pytest.mark.browser


def chart_is_drawn(page):
    """Chart.js (shipped by unfold, no CDN) has turned the canvas into a drawn chart."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas.chart')].some(c => Chart.getChart(c))"
    )


def test_dashboard_of_a_user_and_of_a_manager(browser_page, outcomes, alice, manager):
    page = browser_page
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    chart_is_drawn(page)
    assert page.locator("#dashboard[data-scope=own]").is_visible()
    assert page.get_by_text("5.1.1 User unknown").first.is_visible()
    assert page.get_by_text("Bob offers").count() == 0
    screenshot(page, "dashboard-user")

    page.context.clear_cookies()
    browser_login(page, manager.email, PASSWORD)
    page.wait_for_url("**/admin/")
    chart_is_drawn(page)
    assert page.locator("#dashboard[data-scope=all]").is_visible()
    assert page.get_by_text("Connection refused three times").is_visible()
    screenshot(page, "dashboard-manager")


def test_report_of_a_mailing_with_its_chart(browser_page, outcomes, alice):
    page = browser_page
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    page.goto(f"{page.base_url}/admin/mailings/mailing/{outcomes['newsletter'].pk}/report/")
    chart_is_drawn(page)
    page.select_option("#id_status", "failure")
    page.click("#report-filters button[type=submit]")
    page.wait_for_url("**status=failure**")
    chart_is_drawn(page)
    assert page.locator("#report-attempts tbody tr").count() == 2
    screenshot(page, "report-user")
