"""What a first session sees in a real browser (Debian's Chromium), in Russian (issue #13)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice.tests.factories import PASSWORD
from lib.testing.browser import browser_login, screenshot
from mailings.models import Attempt, AttemptStatus, Delivery, DeliveryStatus, MailingStatus, Message
from mailings.tests.factories import make_mailing

pytestmark = pytest.mark.browser


def test_a_manager_reads_a_message_body_rendered_not_as_html_source(browser_page, alice, manager):
    page = browser_page
    message = Message.objects.create(
        owner=alice, subject="Новости", body="<p>Здравствуйте, <strong>{{ full_name }}</strong>!</p>"
    )
    browser_login(page, manager.email, PASSWORD)
    page.wait_for_url("**/admin/")
    page.goto(page.base_url + f"/admin/mailings/message/{message.pk}/change/")
    screenshot(page, "message-manager-view")
    text = page.inner_text("#content")
    assert "<p>" not in text and "<strong>" not in text
    # The body as written (placeholder kept), in bold; the preview below fills the placeholder.
    assert page.locator("strong", has_text="{{ full_name }}").count() == 1
    assert page.locator("strong", has_text="Иван Петров").count() == 1


def mailing_with_a_failed_run(owner):
    """A running mailing whose last run left a failed recipient (so every button applies)."""
    mailing = make_mailing(owner, 3, next_run_at=timezone.now() + timedelta(days=7), status=MailingStatus.RUNNING)
    attempt = Attempt.objects.create(
        mailing=mailing, scheduled_for=timezone.now(), status=AttemptStatus.FAILURE, finished_at=timezone.now(),
        recipients=3, sent=2, failed=1,
        server_response="1 of 3 refused: 550 5.1.1 <c00001@example.org>: Recipient address rejected: "
                        "User unknown in virtual mailbox table",
    )
    for index, client in enumerate(mailing.clients.all()):
        Delivery.objects.create(
            attempt=attempt, client=client, email=client.email, sent_at=timezone.now(),
            status=DeliveryStatus.FAILED if index == 0 else DeliveryStatus.SENT, smtp_code=550 if index == 0 else 250,
        )
    return mailing


MAILING_ACTIONS = ["Отчёт", "История", "Отправить сейчас", "Отправить тест себе",
                   "Повторить для неудавшихся получателей", "Создать копию", "Приостановить", "Отключить"]


def reachable(page, title):
    """The action is on screen, or one or two clicks away (the phone's menu, then the group)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    link = page.locator(f"a:has-text('{title}')").filter(visible=True)
    openers = ["a:has-text('more_horiz')", "a:has-text('Другие действия')"]
    page.wait_for_function("window.Alpine !== undefined")  # the menus open through Alpine
    for opener in [None, *openers]:
        if opener and page.locator(opener).filter(visible=True).count():
            page.locator(opener).filter(visible=True).first.click()
            try:
                link.first.wait_for(state="visible", timeout=3000)
            except PlaywrightTimeout:
                continue  # not in this menu: try the next one
            settle(page)
        if link.count():
            box = link.first.bounding_box()
            return box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    return False


def settle(page):
    """Wait for the menus' opening transitions to finish."""
    page.evaluate("Promise.allSettled(document.getAnimations().map(animation => animation.finished))")


@pytest.mark.parametrize("size", [(1440, 900), (390, 844)])
def test_the_mailing_page_fits_the_screen_and_every_action_is_reachable(browser_page, alice, size):
    page = browser_page
    mailing = mailing_with_a_failed_run(alice)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    change_url = page.base_url + f"/admin/mailings/mailing/{mailing.pk}/change/"
    for url in [change_url, page.base_url + f"/admin/mailings/mailing/{mailing.pk}/report/", page.base_url + "/admin/"]:
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") == size[0], url
    page.goto(change_url)
    screenshot(page, f"mailing-actions-{size[0]}")
    if size[0] >= 1024:
        # The header keeps room for the page's title beside the buttons.
        assert page.locator("h1").first.evaluate("h => h.clientWidth") > 0
    for title in MAILING_ACTIONS:
        page.goto(change_url)
        assert reachable(page, title), title


def test_a_blocked_owners_mailing_looks_held_everywhere(browser_page, alice, bob, manager):
    from backoffice.accounts import service as accounts_service

    page = browser_page
    soon = timezone.now() + timedelta(days=7)
    make_mailing(alice, 1, status=MailingStatus.RUNNING, next_run_at=soon, subject="Alice weekly")
    make_mailing(alice, 1, status=MailingStatus.CREATED, next_run_at=soon, subject="Alice first", domain="a.example.org")
    held = make_mailing(bob, 1, status=MailingStatus.RUNNING, next_run_at=soon, subject="Bob weekly")
    accounts_service.block_user(user=bob, actor=manager)

    page.goto(page.base_url + "/")
    assert page.inner_text("[data-stat=active-mailings] .value") == "2"

    browser_login(page, manager.email, PASSWORD)
    page.wait_for_url("**/admin/")
    screenshot(page, "dashboard-held-owner")
    dashboard = page.inner_text("body")
    assert "Ближайшие запуски по расписанию" in dashboard
    assert "Alice weekly" in dashboard and "Bob weekly" not in dashboard

    page.goto(page.base_url + f"/admin/mailings/mailing/{held.pk}/change/")
    screenshot(page, "mailing-held-owner")
    text = page.inner_text("#content")
    assert "владелец заблокирован" in text and "запущена" not in text
    assert "Владелец bob@example.com заблокирован" in text


def test_the_unsaved_message_is_previewed_as_a_chosen_client_receives_it(browser_page, alice):
    from mailings.models import Client

    page = browser_page
    Client.objects.create(owner=alice, email="anna@example.com", full_name="Анна Смирнова")
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    page.goto(page.base_url + "/admin/mailings/message/add/")
    page.fill("input[name=subject]", "Привет, {{ full_name }}")
    page.wait_for_selector(".ck-editor__editable")
    page.click(".ck-editor__editable")
    page.keyboard.type("Письмо для {{ email }}")
    page.fill("input[name=preview_email]", "Anna@Example.com")
    with page.context.expect_page() as opened:
        page.click("button[name=_preview]")
    preview = opened.value
    preview.wait_for_selector("#message-preview")
    screenshot(preview, "message-preview-as-client")
    assert preview.inner_text("[data-part=to]") == "Анна Смирнова <anna@example.com>"
    assert preview.inner_text("[data-part=subject]") == "Привет, Анна Смирнова"
    assert "Письмо для anna@example.com" in preview.inner_text("[data-part=text]")
    html = preview.frame_locator("iframe[data-part=html]").locator("body").inner_text()
    assert "Письмо для anna@example.com" in html
    assert not Message.objects.exists()  # a preview saves nothing


def test_after_send_now_the_new_runs_progress_appears_at_once_and_follows_it(browser_page, alice, smtp_server,
                                                                             monkeypatch):
    from mailings import dispatch, tasks
    from mailings.models import Client

    queued = []  # the queue's worker has not taken the run yet: the test plays the worker
    monkeypatch.setattr(dispatch, "enqueue", lambda func, *args: queued.append((func, args)))
    page = browser_page
    mailing = mailing_with_a_failed_run(alice)  # its last run: 2 sent, 1 failed
    Client.objects.filter(pk=mailing.clients.order_by("pk").first().pk).update(unsubscribed_at=timezone.now())
    browser_login(page, alice.email, PASSWORD)
    page.wait_for_url("**/admin/")
    page.goto(page.base_url + f"/admin/mailings/mailing/{mailing.pk}/change/")
    page.click("a:has-text('Отправить сейчас')")
    page.click("form button[type=submit]:has-text('Отправить сейчас')")
    page.wait_for_url("**/change/?awaiting=*")

    box = page.locator(".attempt-progress")
    # At once: the new run is queued, the previous run's figures are not shown as if current.
    assert box.locator("[data-part=waiting]").is_visible()
    assert "Запуск в очереди" in box.inner_text()
    assert not box.locator("[data-part=figures]").is_visible()
    screenshot(page, "send-now-queued")

    # The button started the run due next week, now; the worker claims and delivers it.
    [args] = [args for func, args in queued if func == "mailings.tasks.run_mailing"]
    tasks.run_mailing(*args)

    box.locator("[data-part=figures]").wait_for(state="visible")
    assert box.locator("[data-field=sent]").inner_text() == "2"
    assert box.locator("[data-field=skipped]").inner_text() == "1"
    assert "Пропущено 1: клиент отписался до запуска" in box.inner_text()
    assert box.locator("[data-field=status_display]").inner_text() == "успешно"
    screenshot(page, "send-now-progress")


def test_the_test_emails_unsubscribe_link_explains_it_is_a_test(browser_page, alice, smtp_server, settings):
    from mailings import tasks

    page = browser_page
    settings.SITE_URL = page.base_url  # the links in the message point at this server
    mailing = make_mailing(alice, 2)
    tasks.send_test(mailing.pk, alice.email)  # what the "send a test to me" button queues
    assert smtp_server.wait_for(1)
    message = smtp_server.messages[0].message
    link = str(message["List-Unsubscribe"]).strip("<>")
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert link in text and link in message.get_body(preferencelist=("html",)).get_content()

    page.goto(link)
    screenshot(page, "unsubscribe-test-link")
    assert page.inner_text("h1") == "Это тестовая отправка"
    assert "Получатели настоящей рассылки получат свою рабочую ссылку" in page.inner_text("body")
