"""The client import and the message editor in a real browser (Debian's Chromium)."""
import pytest

from backoffice.tests.factories import PASSWORD
from lib.testing.browser import browser_login, screenshot
from mailings.models import Client, Message

pytestmark = pytest.mark.browser


def test_a_user_imports_an_excel_csv_and_reads_the_report(browser_page, alice, tmp_path):
    page = browser_page
    csv_file = tmp_path / "clients.csv"
    csv_file.write_bytes("Почта;ФИО\r\nann@example.com;Анна\r\nnot-an-address;X\r\n".encode("cp1251"))
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    page.goto(page.base_url + "/admin/mailings/client/import/")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_selector("#import-report")
    screenshot(page, "client-import-report")
    assert "not-an-address" in page.inner_text("#import-report")
    assert list(Client.objects.filter(owner=alice).values_list("full_name", flat=True)) == ["Анна"]


def test_the_message_body_is_edited_with_ckeditor(browser_page, alice):
    page = browser_page
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    page.goto(page.base_url + "/admin/mailings/message/add/")
    page.fill("input[name=subject]", "Hello {{ full_name }}")
    page.wait_for_selector(".ck-editor__editable")
    page.click(".ck-editor__editable")
    page.keyboard.type("Dear {{ full_name }}")
    page.click("button[name=_continue]")
    page.wait_for_selector("text=ivan.petrov@example.com")
    screenshot(page, "message-preview")
    assert "Dear {{ full_name }}" in Message.objects.get(owner=alice).body
