"""Admin helpers shared by every app's ModelAdmin.

The confirmation page lives here, the lowest package, because both the people app
(block / unblock a user) and the mailings app (disable / enable, send now, test, retry)
ask with it, and backoffice may not import mailings.
"""
from django.shortcuts import render


def confirm_action(model_admin, request, question, button, cancel_url, *, subject=None, hidden=None):
    """The confirmation page of a detail action (GET); the action itself needs a POST.

    ``subject`` is shown under the question (the object acted on, when the question does not
    name it); ``hidden`` is a dict of fields the POST carries back (e.g. the run a button
    starts, so the press starts exactly what the page offered).
    """
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": button,
        "question": question,
        "subject": subject,
        "hidden": hidden or {},
        "button": button,
        "cancel_url": cancel_url,
    }
    return render(request, "admin/confirm_action.html", context)
