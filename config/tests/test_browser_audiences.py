"""Issue #11 in Debian's Chromium: import a CSV into a new list, create a mailing for that
list (the form shows whom it would reach before it is saved), press "Send now", and find
the suppressed address in the report's skipped recipients with its reason.

The run goes through the real path: the page's "Send now" queues the task and django-q2
runs it inline (``sync_queue``), delivering to the real SMTP server on loopback.
"""
import datetime

import pytest
from django.utils import timezone

from backoffice.tests.factories import PASSWORD
from config.tests.test_browser_journey import choose, save
from lib.testing.browser import browser_login, screenshot
from mailings.models import Attempt, ClientList, Delivery, DeliveryStatus, Mailing, Message, Suppression
from mailings.models import SkipReason, SuppressionReason

pytestmark = pytest.mark.browser

CSV = "email;full_name\r\nann@example.org;Анна\r\nbob@example.org;Борис\r\nsuppressed@example.org;Стоп\r\n"


def test_import_into_a_new_list_mail_it_and_see_the_suppressed_address_skipped(
    browser_page, alice, smtp_server, sync_queue, tmp_path,
):
    page = browser_page
    Message.objects.create(owner=alice, subject="Весенние новости", body="<p>Здравствуйте!</p>")
    Suppression.objects.create(owner=alice, email="suppressed@example.org", reason=SuppressionReason.BOUNCED)
    upload = tmp_path / "readers.csv"
    upload.write_text(CSV, encoding="utf-8")
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")

    # 1. Import the file into a new list.
    page.goto(page.base_url + "/admin/mailings/client/import/")
    page.set_input_files("input[name=import_file]", str(upload))
    page.fill("[name=new_list]", "Читатели")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()
    screenshot(page, "audience-01-imported")
    readers = ClientList.objects.get(owner=alice, name="Читатели")
    assert sorted(readers.clients.values_list("email", flat=True)) == [
        "ann@example.org", "bob@example.org", "suppressed@example.org"]

    # 2. A mailing for that list; before saving, the form says whom it would reach.
    page.goto(page.base_url + "/admin/mailings/mailing/add/")
    page.fill("[name=name]", "Весна")
    choose(page, "message", "Весенние новости")
    choose(page, "lists", "Читатели")
    page.wait_for_selector("#mailing-reach[data-count='2']")
    assert page.locator("#mailing-reach").inner_text().startswith("Получат сейчас: 2")
    # Tomorrow, so that saving queues nothing: the run is the one "Send now" starts.
    tomorrow = timezone.localtime() + datetime.timedelta(days=1)
    if page.locator("[name=start_at_0]").count():
        page.fill("[name=start_at_0]", tomorrow.strftime("%Y-%m-%d"))
        page.fill("[name=start_at_1]", tomorrow.strftime("%H:%M:%S"))
    else:
        page.fill("[name=start_at]", tomorrow.strftime("%Y-%m-%d %H:%M:%S"))
    screenshot(page, "audience-02-mailing-form")
    save(page)
    mailing = Mailing.objects.get(owner=alice, name="Весна")
    assert list(mailing.lists.all()) == [readers]

    # 3. "Send now" on its page, confirmed.
    page.goto(page.base_url + f"/admin/mailings/mailing/{mailing.pk}/change/")
    page.locator("a[href$='/send-now/']").first.click()
    page.wait_for_load_state()
    page.locator("form:has(input[name=run]) button[type=submit]").click()
    page.wait_for_load_state()
    assert smtp_server.wait_for(2, timeout=30), "the mailing did not reach the SMTP server"
    assert sorted(smtp_server.recipients()) == ["ann@example.org", "bob@example.org"]
    attempt = Attempt.objects.get(mailing=mailing)
    assert Delivery.objects.get(attempt=attempt, email="suppressed@example.org").skip_reason == SkipReason.BOUNCED

    # 4. The report lists the skipped address with its reason.
    page.goto(page.base_url + f"/admin/mailings/mailing/{mailing.pk}/report/")
    row = page.locator("#report-skipped tbody tr", has_text="suppressed@example.org")
    assert row.count() == 1
    assert row.locator("td").nth(2).inner_text().strip() == "недоставляемый адрес"
    screenshot(page, "audience-03-report")
    assert Delivery.objects.filter(attempt=attempt, status=DeliveryStatus.SENT).count() == 2
