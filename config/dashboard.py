"""The admin start page (django-unfold's dashboard callback).

The statistics, and their shaping into cards, charts and tables, live in
``mailings.statistics.dashboard``; None there means the user sees no statistics. Here: what a
newcomer should do first (the three steps to a first mailing), and a content manager's posts.
"""
from django.db.models import Sum
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from content.models import Post
from lib.dates import local_datetime
from mailings.models import Client, Mailing, Message
from mailings.statistics.dashboard import dashboard_stats

ACTIVITY = ("sent", "failed", "unknown")


def dashboard_callback(request, context):
    stats = dashboard_stats(request.user)
    if stats:
        # A chart of zeros says nothing: it appears once something was sent.
        stats["has_activity"] = any(stats["totals"][key] for key in ACTIVITY)
        # A mailing needs a message and clients: whoever has one has done every step, and the
        # (cached) statistics already count mailings, so only newcomers cost two queries.
        if not stats["sees_all"] and not any(stats["by_status"].values()):
            context["onboarding"] = onboarding_steps(request.user)
    elif request.user.has_perm("content.add_post"):
        context["author_posts"] = author_posts(request.user)
    context["stats"] = stats
    return context


def onboarding_steps(user):
    """The way to a first mailing, each step ticked once done; None when all three are done."""
    steps = [
        (_("Import your clients"), _("A CSV or XLSX file with their e-mail addresses and names."),
         "admin:mailings_client_import", Client),
        (_("Write a message"), _("A subject and a text; {{ full_name }} becomes each client's name."),
         "admin:mailings_message_add", Message),
        (_("Create a mailing"), _("Choose the message, the clients and when to send it."),
         "admin:mailings_mailing_add", Mailing),
    ]
    shown = [
        {"title": title, "hint": hint, "url": reverse(url_name), "done": model.objects.filter(owner=user).exists()}
        for title, hint, url_name, model in steps
    ]
    return None if all(step["done"] for step in shown) else shown


def author_posts(user):
    """A content manager's own posts, newest first, with their views."""
    posts = Post.objects.filter(author=user).order_by("-pk")
    rows = [
        [
            format_html('<a class="text-primary-600" href="{}">{}</a>',
                        reverse("admin:content_post_change", args=[post.pk]), post.title),
            local_datetime(post.published_at) if post.is_published else _("draft"),
            post.views,
        ]
        for post in posts[:20]
    ]
    return {
        "count": posts.count(),
        "views": posts.aggregate(total=Sum("views"))["total"] or 0,
        "add_url": reverse("admin:content_post_add"),
        "table": {"headers": [_("Post"), _("Published"), _("Views")], "rows": rows},
    }
