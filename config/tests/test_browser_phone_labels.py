"""On a phone, the column names shown before each cell read "Дата создания", not Title Case
"Дата Создания" (issue #13, item 9)."""
import pytest

from backoffice.tests.factories import PASSWORD
from lib.testing.browser import browser_login, screenshot
from mailings.models import Client

pytestmark = pytest.mark.browser


def test_phone_column_names_capitalise_the_first_word_only(browser_page, alice):
    page = browser_page
    Client.objects.create(owner=alice, email="ann@example.com", full_name="Анна")
    page.set_viewport_size({"width": 375, "height": 800})
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    page.goto(page.base_url + "/admin/mailings/client/")
    screenshot(page, "clients-phone")
    labels = page.eval_on_selector_all(
        "#result_list td[data-label]",
        """cells => cells.filter(c => getComputedStyle(c, '::before').display !== 'none')
                        .map(c => {
                          const style = getComputedStyle(c, '::before');
                          return [c.dataset.label, style.textTransform];
                        })""",
    )
    # "Выберите Запись" with CSS capitalize; "Ф. И. О." is written so.
    assert labels == [["Выберите запись", "none"], ["Ф. И. О.", "none"], ["Подписан", "none"], ["Создано", "none"]]
