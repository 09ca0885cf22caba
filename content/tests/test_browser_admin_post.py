"""The blog post edit page in the admin runs without a JavaScript error (issue #13, item 8).

Choosing a picture with CKEditor's "insert image" button threw "Cannot read properties of null
(reading 'setAttribute')" from unfold's file-input script (see static/backoffice/ckeditor-file-input.js).
"""
import base64

import pytest

from backoffice.tests.factories import PASSWORD
from lib.testing.browser import browser_login, screenshot
from content.tests import factories

pytestmark = pytest.mark.browser

PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def test_choosing_a_picture_in_the_post_editor_raises_no_javascript_error(browser_page, content_manager, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    page = browser_page
    post = factories.post(title="Как писать письма", body="<p>Первый абзац.</p>", author=content_manager)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    browser_login(page, content_manager.email, PASSWORD)
    page.goto(page.base_url + f"/admin/content/post/{post.pk}/change/")
    page.wait_for_load_state("load")
    page.wait_for_selector(".ck-editor__editable")
    page.click(".ck-editor__editable")
    page.set_input_files(
        ".ck-toolbar input[type=file]", files=[{"name": "pixel.png", "mimeType": "image/png", "buffer": PIXEL_PNG}]
    )
    page.wait_for_selector(".ck-editor__editable img")
    screenshot(page, "admin-post-edit-image")
    assert errors == []


def test_the_home_page_excerpt_keeps_paragraphs_apart(browser_page):
    page = browser_page
    factories.post(title="О сервисе", body="<p>Мы делаем рассылки.</p><p>Спрашивайте&nbsp;нас!</p><ul><li>Раз</li><li>Два</li></ul>")
    page.goto(page.base_url + "/")
    excerpt = page.locator(".post-card .inner p").last.inner_text()
    assert excerpt == "Мы делаем рассылки. Спрашивайте нас! Раз Два"
