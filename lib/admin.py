"""Admin helpers shared by every app's ModelAdmin."""
from django.shortcuts import render


def confirm_action(model_admin, request, question, button, cancel_url):
    """The confirmation page of a detail action (GET); the action itself needs a POST."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": button,
        "question": question,
        "button": button,
        "cancel_url": cancel_url,
    }
    return render(request, "admin/confirm_action.html", context)
