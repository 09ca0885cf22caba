import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_health_is_ok_when_every_service_answers(client):
    response = client.get(reverse("health"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "services": {"database": "ok", "cache": "ok", "queue": "ok"},
    }


def test_health_is_503_when_the_cache_is_unreachable(client, settings):
    # A Redis cache on a loopback port where nothing listens.
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    response = client.get(reverse("health"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["services"]["database"] == "ok"
    assert body["services"]["cache"].startswith("error")
