"""A newcomer's whole journey in Debian's Chromium, and a manager stepping in.

Register → open the verification link from the e-mail the local SMTP server received →
log in → add a client, a message and a mailing that starts now → see it delivered and its
attempt recorded → a manager disables the mailing and blocks the user → the user's next
click lands on the login page. A screenshot of each step goes to test-artifacts/.

Admin forms are driven through the model field names (email, full_name, subject, body,
message, clients, start_at), whatever widgets the admin puts on them.
"""
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from backoffice.tests.factories import PASSWORD
from lib.testing.browser import browser_login, screenshot
from mailings.models import Attempt, Client, Delivery, Mailing

pytestmark = pytest.mark.browser

NEWCOMER = "novichok@example.com"
NEW_PASSWORD = "Plum-Orbit-47-Lantern"
RECIPIENT = "reader@example.org"


def shot(page, step, name):
    screenshot(page, f"journey-{step:02d}-{name}")


def save(page):
    page.locator("button[name=_save], input[name=_save]").first.click()
    page.wait_for_load_state()
    errors = page.locator(".errorlist, .errornote")
    assert errors.count() == 0, errors.all_inner_texts()


def fill_rich_text(page, name, text):
    """CKEditor 5 when the admin uses it, otherwise the plain textarea."""
    editor = page.locator(f"textarea[name={name}] ~ * .ck-editor__editable, .ck-editor__editable").first
    if editor.count() and editor.is_visible():
        editor.click()
        page.keyboard.type(text)
    else:
        page.fill(f"[name={name}]", text)


def choose(page, name, text):
    """Pick the option(s) whose label contains ``text`` in a select or a select2 autocomplete."""
    select = page.locator(f"select[name={name}]")
    if "admin-autocomplete" in (select.get_attribute("class") or ""):
        page.locator(f"select[name={name}] + .select2").click()
        page.keyboard.type(text)
        page.locator(".select2-results__option", has_text=text).first.click()
        return
    values = select.evaluate(
        "(s, t) => [...s.options].filter(o => o.text.includes(t)).map(o => o.value)", text
    )
    assert values, f"no option containing {text!r} in {name}"
    select.select_option(values, force=True)


def fill_now(page, name):
    now = timezone.localtime()
    if page.locator(f"[name={name}_0]").count():
        page.fill(f"[name={name}_0]", now.strftime("%Y-%m-%d"))
        page.fill(f"[name={name}_1]", now.strftime("%H:%M:%S"))
    else:
        page.fill(f"[name={name}]", now.strftime("%Y-%m-%d %H:%M:%S"))


def run_bulk_action(page, object_id, keyword):
    """Tick the row and run the changelist action whose name contains ``keyword``."""
    checkbox = page.locator(f"input.action-select[value='{object_id}']")
    if not checkbox.count():
        return False  # no action at all on this list for this user
    checkbox.check()
    select = page.locator("select[name=action]")
    names = select.evaluate("(s, k) => [...s.options].map(o => o.value).filter(v => v.includes(k))", keyword)
    if not names:
        return False
    select.select_option(names[0])
    page.locator("button[name=index]").first.click()
    page.wait_for_load_state()
    return True


def verification_link(smtp_server):
    assert smtp_server.wait_for(1, timeout=20), "no verification e-mail reached the SMTP server"
    message = smtp_server.messages[0].message
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"https?://\S+/accounts/verify/\S+/", text).group(0)


def deliver(mailing):
    """Run the sending through the same code path as the worker."""
    call_command("run_mailing_sending", "--mailing", str(mailing.pk))


def test_a_newcomer_sends_a_mailing_and_a_manager_stops_them(
    browser_page, smtp_server, manager, live_server, settings
):
    page = browser_page
    settings.SITE_URL = live_server.url  # where e-mail links point

    # 1. The home page, then registration.
    page.goto(page.base_url + "/")
    shot(page, 1, "home")
    page.click("a[href='/accounts/register/']")
    page.fill("[name=email]", NEWCOMER)
    page.fill("[name=full_name]", "Новичок Петров")
    page.fill("[name=password1]", NEW_PASSWORD)
    page.fill("[name=password2]", NEW_PASSWORD)
    shot(page, 2, "register")
    page.click("form button[type=submit]")
    page.wait_for_url("**/accounts/register/done/**")
    shot(page, 3, "check-inbox")

    # 2. The link from the e-mail the local SMTP server received opens a page whose
    # "Confirm" button verifies (a GET alone, e.g. a mail scanner's, changes nothing).
    page.goto(verification_link(smtp_server))
    shot(page, 4, "confirm")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("a[href='/accounts/login/']").count()
    shot(page, 4, "verified")

    # 3. Log in on the public login page; users go to the admin.
    page.click("main a[href='/accounts/login/']")
    page.fill("[name=username]", NEWCOMER)
    page.fill("[name=password]", NEW_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/admin/")
    shot(page, 5, "admin")

    # 4. A client, a message and a mailing that starts now.
    page.goto(page.base_url + "/admin/mailings/client/add/")
    page.fill("[name=email]", RECIPIENT)
    page.fill("[name=full_name]", "Читатель Блога")
    shot(page, 6, "client-form")
    save(page)
    page.goto(page.base_url + "/admin/mailings/message/add/")
    page.fill("[name=subject]", "Новости недели")
    fill_rich_text(page, "body", "Здравствуйте! Это первая рассылка.")
    shot(page, 7, "message-form")
    save(page)
    page.goto(page.base_url + "/admin/mailings/mailing/add/")
    choose(page, "message", "Новости недели")
    choose(page, "clients", RECIPIENT)
    fill_now(page, "start_at")
    shot(page, 8, "mailing-form")
    save(page)
    shot(page, 9, "mailing-saved")
    user = get_user_model().objects.get(email=NEWCOMER)
    mailing = Mailing.objects.get(owner=user)
    assert list(mailing.clients.values_list("email", flat=True)) == [RECIPIENT]
    assert Client.objects.get(email=RECIPIENT).owner == user

    # 5. Delivered, and the attempt recorded and shown.
    deliver(mailing)
    assert smtp_server.wait_for(2, timeout=30), "the mailing did not reach the SMTP server"
    assert RECIPIENT in smtp_server.recipients()
    attempt = Attempt.objects.get(mailing=mailing)
    assert attempt.status == "success" and attempt.sent == 1
    assert Delivery.objects.get(attempt=attempt).status == "sent"
    page.goto(page.base_url + "/admin/mailings/attempt/")
    assert page.locator("#result_list tbody tr").count() == 1
    shot(page, 10, "attempt-recorded")

    # 6. A manager disables the mailing and blocks the user, in their own browser session.
    manager_context = page.context.browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    manager_page = manager_context.new_page()
    manager_page.base_url = page.base_url
    try:
        browser_login(manager_page, manager.email, PASSWORD)
        manager_page.wait_for_url("**/admin/")
        manager_page.goto(page.base_url + "/admin/mailings/mailing/")
        assert run_bulk_action(manager_page, mailing.pk, "disable")
        shot(manager_page, 11, "manager-disabled-mailing")
        mailing.refresh_from_db()
        assert not mailing.is_enabled
        manager_page.goto(page.base_url + "/admin/backoffice/user/")
        assert run_bulk_action(manager_page, user.pk, "block_users")
        shot(manager_page, 12, "manager-blocked-user")
    finally:
        manager_context.close()
    user.refresh_from_db()
    assert not user.is_active

    # 7. The blocked user's next click, on the page still open, lands on the login page.
    assert "/admin/" in page.url and "/login/" not in page.url
    page.locator("a[href='/admin/mailings/mailing/']").first.click()
    page.wait_for_load_state()
    assert "/login/" in page.url
    shot(page, 13, "blocked-user-at-login")
