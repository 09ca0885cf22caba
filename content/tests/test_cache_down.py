"""Issue #9, item 12: with Redis unreachable, the public pages render without the cache.

The cache points at a loopback port where nothing listens: a real refused connection.
"""
import logging
import socket

import pytest
import redis
from django.core.cache import cache as shared_cache
from django.urls import reverse

from content.models import Post
from content.tests import factories

pytestmark = pytest.mark.django_db


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        },
    }
    with pytest.raises(redis.exceptions.ConnectionError):  # the premise: the cache really is down
        shared_cache.get("anything")


@pytest.fixture
def published():
    return factories.post(title="Письма, которые читают", body="<p>Пишите коротко.</p>")


def test_the_home_page_renders_without_the_cache(client, published, redis_down, caplog):
    with caplog.at_level(logging.WARNING, logger="content.cache"):
        response = client.get("/")

    assert response.status_code == 200
    assert "Письма, которые читают" in response.content.decode()
    assert response.context["stats"] is not None
    assert any("cache unreachable" in record.getMessage() for record in caplog.records)


def test_the_blog_list_renders_without_the_cache(client, published, redis_down):
    response = client.get(reverse("blog-list"))

    assert response.status_code == 200
    assert [post["title"] for post in response.context["posts"]] == ["Письма, которые читают"]


def test_a_post_renders_without_the_cache_and_its_views_are_still_counted(client, published, redis_down):
    first = client.get(published.get_absolute_url())
    second = client.get(published.get_absolute_url())

    assert (first.status_code, second.status_code) == (200, 200)
    assert "Пишите коротко." in second.content.decode()
    assert second.context["views"] == 2
    assert Post.objects.get(pk=published.pk).views == 2


def test_an_unknown_post_is_still_a_404(client, redis_down):
    assert client.get(reverse("blog-detail", args=["no-such-post"])).status_code == 404
