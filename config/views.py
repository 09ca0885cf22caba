from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from config.health import service_states


@never_cache
def health(request):
    """JSON state of database, cache and queue: 200 when all answer, 503 otherwise."""
    states = service_states()
    healthy = all(state == "ok" for state in states.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "services": states},
        status=200 if healthy else 503,
    )
