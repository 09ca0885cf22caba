"""The message page shows the pre-flight findings of a sample build, in the reader's language."""
import pytest
from django.urls import reverse

from mailings.models import Message

pytestmark = pytest.mark.django_db


def preflight_items(page):
    block = page[page.index('id="preflight"'):]
    return block[:block.index("</ul>")]


def test_risky_links_are_shown_as_problems(client, alice, english, settings):
    settings.SITE_URL = "https://mail.example.com"  # the footer's unsubscribe link is https
    message = Message.objects.create(owner=alice, subject="News", body=(
        '<p><a href="http://example.com/a">plain http</a> '
        '<a href="https://evil.example.net/login">https://bank.example.com</a></p>'))
    client.force_login(alice)

    page = client.get(reverse("admin:mailings_message_change", args=[message.pk])).content.decode()

    items = preflight_items(page)
    assert "A link is not over https: http://example.com/a" in items
    assert "A link shows one address and leads to another: https://bank.example.com → https://evil.example.net/login" in items
    assert items.count('data-problem="1"') == 2
    assert "Links: 3." in items  # the two, and the footer's unsubscribe link
    assert "unsubscribe" not in items.lower()  # header and link are both there


def test_the_findings_are_in_russian_by_default(client, alice):
    message = Message.objects.create(owner=alice, subject="News", body='<p><a href="http://example.com/a">x</a></p>')
    client.force_login(alice)

    page = client.get(reverse("admin:mailings_message_change", args=[message.pk])).content.decode()

    assert "Ссылка не через https: http://example.com/a" in preflight_items(page)
