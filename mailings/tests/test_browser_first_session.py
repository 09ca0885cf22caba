"""What a first session sees in a real browser (Debian's Chromium), in Russian (issue #13)."""
import pytest

from conftest import browser_login, screenshot
from mailings.models import Message

pytestmark = pytest.mark.browser


def test_a_manager_reads_a_message_body_rendered_not_as_html_source(browser_page, alice, manager):
    page = browser_page
    message = Message.objects.create(
        owner=alice, subject="Новости", body="<p>Здравствуйте, <strong>{{ full_name }}</strong>!</p>"
    )
    browser_login(page, manager.email)
    page.wait_for_url("**/admin/")
    page.goto(page.base_url + f"/admin/mailings/message/{message.pk}/change/")
    screenshot(page, "message-manager-view")
    text = page.inner_text("#content")
    assert "<p>" not in text and "<strong>" not in text
    # The body as written (placeholder kept), in bold; the preview below fills the placeholder.
    assert page.locator("strong", has_text="{{ full_name }}").count() == 1
    assert page.locator("strong", has_text="Иван Петров").count() == 1
