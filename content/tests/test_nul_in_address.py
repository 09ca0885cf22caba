"""A NUL byte in a blog address is a 404, not a database error (issue #9, item 11)."""
import pytest
from django.urls import reverse

from content.tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/blog/%00/", "/blog/bad%00slug/", "/blog/%0D%0A/"])
def test_a_control_character_in_a_blog_address_is_a_404(client, path):
    assert client.get(path).status_code == 404


def test_a_unicode_slug_typed_by_hand_still_opens_its_post(client):
    post = factories.post(title="Привет", slug="привет-мир")
    assert client.get(reverse("blog-detail", kwargs={"slug": post.slug})).status_code == 200
