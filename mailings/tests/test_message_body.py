"""A message whose body shows nothing is refused (issue #13, item 2).

CKEditor submits an "empty" editor as ``<p>&nbsp;</p>``: the rule is that a body needs visible
text or an image once sanitised (lib.sanitize.has_visible_content, used by MessageForm).
"""
import pytest
from django.urls import reverse

from mailings.models import Message

EMPTY_BODIES = [
    "<p>&nbsp;</p>",
    "<p><br></p>",
    "<p>&nbsp;</p><p>&nbsp;</p>",
    "<p> \u00a0 </p><p><br>&nbsp;</p>",
    "<p>\u200b</p>",
    "<h2></h2><ul><li>&nbsp;</li></ul>",
    '<img src="javascript:alert(1)">',
]


@pytest.mark.parametrize("body", EMPTY_BODIES)
def test_a_body_that_shows_nothing_is_refused_in_russian(client, alice, body):
    client.force_login(alice)
    response = client.post(reverse("admin:mailings_message_add"), {"subject": "Тема", "body": body})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"body": ["Напишите текст сообщения."]}
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "body",
    ["<p>Здравствуйте, {{ full_name }}!</p>", '<figure class="image"><img src="https://example.com/a.png"></figure>'],
)
def test_text_or_an_image_alone_is_content(client, alice, body):
    client.force_login(alice)
    response = client.post(reverse("admin:mailings_message_add"), {"subject": "Тема", "body": body})
    assert response.status_code == 302
    assert Message.objects.get(owner=alice).body.startswith(body[:10])
