"""Blog posts in the admin: content managers write them with CKEditor 5; HTML is sanitised."""
import pytest
from django.urls import reverse

from content.models import Post
from content.tests import factories

pytestmark = pytest.mark.django_db


def add_post(client, **data):
    form = {"title": "Как не попасть в спам", "slug": "", "body": "<p>Текст</p>", "is_published": "on", **data}
    return client.post(reverse("admin:content_post_add"), form)


def test_a_content_manager_writes_a_post_with_a_transliterated_slug(client, content_manager):
    client.force_login(content_manager)
    response = add_post(client)
    assert response.status_code == 302, response.content.decode()[:2000]
    post = Post.objects.get()
    assert post.slug == "kak-ne-popast-v-spam"
    assert post.author == content_manager
    assert post.published_at is not None
    assert client.get(post.get_absolute_url()).status_code == 200


def test_the_body_is_stored_sanitised(client, content_manager):
    client.force_login(content_manager)
    add_post(client, body='<p>Привет<img src="x" onerror="steal()"></p><script>alert(1)</script>')
    body = Post.objects.get().body
    assert "script" not in body and "onerror" not in body
    assert "Привет" in body


def test_a_body_that_sanitises_to_nothing_is_refused(client, content_manager):
    client.force_login(content_manager)
    response = add_post(client, body="<script>alert(1)</script>")
    assert response.status_code == 200
    assert not Post.objects.exists()


def test_the_add_page_uses_ckeditor(client, content_manager):
    client.force_login(content_manager)
    page = client.get(reverse("admin:content_post_add")).content.decode()
    assert "django_ckeditor_5" in page


def test_a_user_cannot_write_posts(client, alice):
    client.force_login(alice)
    assert client.get(reverse("admin:content_post_add")).status_code == 403


def test_a_content_manager_edits_a_post_and_it_shows_at_once(client, content_manager):
    post = factories.post(title="Было")
    client.get(post.get_absolute_url())
    client.force_login(content_manager)
    response = client.post(
        reverse("admin:content_post_change", args=[post.pk]),
        {"title": "Стало", "slug": post.slug, "body": post.body, "is_published": "on",
         "published_at_0": "", "published_at_1": ""},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert "Стало" in client.get(post.get_absolute_url()).content.decode()
