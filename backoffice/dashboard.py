"""The admin start page (django-unfold dashboard callback)."""


def dashboard_callback(request, context):
    return context
