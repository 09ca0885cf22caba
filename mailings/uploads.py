"""Refuse an oversized request by its declared length, before anything reads its body.

Django's CSRF middleware reads ``request.POST`` of every POST, and with it the whole
multipart body: an upload bigger than the client import takes would be spooled to a
temporary file before the import page could refuse it. This middleware sits before it.
The largest upload the site takes is a client import (``CLIENT_IMPORT_MAX_BYTES``); the
body may be larger by the form's other fields and the multipart framing. The WSGI input is
capped at the declared length, so the declared length also bounds what is ever read.
"""
from django.http import HttpResponse

from mailings import importing

FORM_OVERHEAD_BYTES = 1024 * 1024


def max_request_bytes():
    return importing.max_import_bytes() + FORM_OVERHEAD_BYTES


def declared_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # Django reads nothing of a body with an unreadable length


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        size = declared_length(request)
        if size > max_request_bytes():
            return HttpResponse(
                importing.too_big_message(size), status=413, content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)
