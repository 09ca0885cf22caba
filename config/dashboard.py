"""The admin start page (django-unfold's dashboard callback).

The statistics, and their shaping into cards, charts and tables, live in
``mailings.statistics.dashboard``; None there means the user sees no statistics.
"""
from mailings.statistics.dashboard import dashboard_stats


def dashboard_callback(request, context):
    context["stats"] = dashboard_stats(request.user)
    return context
