"""Probes of the services the back office depends on, and the /health/ view; the start-up
checks (``config/checks.py``) use the probes too."""
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


def probe_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def probe_cache():
    key = "health:probe"
    cache.set(key, "ok", 10)
    if cache.get(key) != "ok":
        raise RuntimeError("the cache did not return what was stored")


def probe_queue():
    """The queue broker answers (Redis, or the database for the ORM broker)."""
    from django_q.brokers import get_broker

    broker = get_broker()
    if not broker.ping():
        raise RuntimeError("the queue broker did not answer")


def probe_redis(url):
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


PROBES = {"database": probe_database, "cache": probe_cache, "queue": probe_queue}


def service_states():
    """Map each service to "ok" or a short description of what is wrong."""
    states = {}
    for name, probe in PROBES.items():
        try:
            probe()
        except Exception as exc:  # a health check reports every failure, whatever its type
            states[name] = f"error: {exc.__class__.__name__}: {exc}"[:300]
        else:
            states[name] = "ok"
    return states


@never_cache
def health(request):
    """JSON state of database, cache and queue: 200 when all answer, 503 otherwise."""
    states = service_states()
    healthy = all(state == "ok" for state in states.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "services": states},
        status=200 if healthy else 503,
    )
