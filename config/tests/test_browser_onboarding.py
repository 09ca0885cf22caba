"""A newcomer's start page shows the way to a first mailing; a content manager's shows their
posts (issue #13, item 13)."""
import pytest

from backoffice.tests.factories import PASSWORD
from lib.testing.browser import browser_login, screenshot
from content.models import Post
from mailings.models import Client, Message

pytestmark = pytest.mark.browser


def steps(page):
    items = page.locator("#onboarding li")
    return [(items.nth(i).locator("a").inner_text(), items.nth(i).get_attribute("data-done")) for i in range(items.count())]


def test_a_newcomer_sees_three_steps_ticked_as_done(browser_page, alice):
    page = browser_page
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    screenshot(page, "dashboard-newcomer")
    assert steps(page) == [("1. Загрузите клиентов", "0"), ("2. Напишите сообщение", "0"), ("3. Создайте рассылку", "0")]
    assert page.locator("#dashboard canvas").count() == 0  # no chart of zeros
    assert "Рассылки:" not in page.locator("#dashboard").inner_text()

    with page.expect_navigation():
        page.get_by_role("link", name="1. Загрузите клиентов").click()
    assert page.url.endswith("/admin/mailings/client/import/")

    Client.objects.create(owner=alice, email="ann@example.com")
    Message.objects.create(owner=alice, subject="Привет", body="<p>Текст</p>")
    page.goto(page.base_url + "/admin/")
    assert [done for _title, done in steps(page)] == ["1", "1", "0"]


def test_a_content_manager_sees_their_posts_and_views(browser_page, content_manager, alice):
    page = browser_page
    Post.objects.create(title="Как писать письма", body="<p>x</p>", author=content_manager, views=42)
    Post.objects.create(title="Черновик", body="<p>x</p>", author=content_manager)
    Post.objects.create(title="Чужая статья", body="<p>x</p>", author=alice, views=7)
    browser_login(page, content_manager.email, PASSWORD)
    page.wait_for_url("**/admin/")
    screenshot(page, "dashboard-content-manager")
    block = page.locator("#author-posts")
    assert block.locator("[data-figure=posts]").inner_text() == "2"
    assert block.locator("[data-figure=views]").inner_text() == "42"
    text = block.inner_text()
    assert "Как писать письма" in text and "Черновик" in text and "Чужая статья" not in text
    assert block.get_by_role("link", name="Написать статью").get_attribute("href") == "/admin/content/post/add/"
