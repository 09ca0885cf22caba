"""The admin sidebar: each role sees only the sections it may use.

Built per request from the user's permissions, so adding a permission to a group in the
data migration is all it takes to show a section.
"""
from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from backoffice import permissions

# (title, icon, admin URL name, permission needed to see it: a name, or a role predicate)
SECTIONS = [
    (
        _("Mailings"),
        [
            (_("Mailings"), "send", "admin:mailings_mailing_changelist", "mailings.view_mailing"),
            (_("Messages"), "mail", "admin:mailings_message_changelist", "mailings.view_message"),
            (_("Clients"), "contacts", "admin:mailings_client_changelist", "mailings.view_client"),
            (_("Attempts"), "monitoring", "admin:mailings_attempt_changelist", "mailings.view_attempt"),
        ],
    ),
    (
        _("People"),
        [
            (_("Users"), "group", "admin:backoffice_user_changelist", "backoffice.view_user"),
            (_("Groups"), "shield_person", "admin:auth_group_changelist", "auth.view_group"),
        ],
    ),
    (
        _("Blog"),
        [
            (_("Posts"), "article", "admin:content_post_changelist", "content.view_post"),
        ],
    ),
    (
        _("System"),
        [
            (_("Scheduled tasks"), "schedule", "admin:django_q_schedule_changelist", "django_q.view_schedule"),
            (_("Failed tasks"), "error", "admin:django_q_failure_changelist", "django_q.view_failure"),
            (_("Domain check"), "dns", "domain_check", permissions.can_check_domains),
        ],
    ),
]


def sidebar_navigation(request):
    user = request.user
    groups = [
        {
            "title": _("Overview"),
            "items": [{"title": _("Dashboard"), "icon": "dashboard", "link": reverse("admin:index")}],
        }
    ]
    for title, items in SECTIONS:
        visible = [
            {"title": item_title, "icon": icon, "link": reverse(url_name)}
            for item_title, icon, url_name, permission in items
            if (permission(user) if callable(permission) else user.has_perm(permission))
        ]
        if visible:
            groups.append({"title": title, "separator": True, "items": visible})
    return groups


def environment_callback(request):
    """The badge in the admin header: says loudly when this is not production."""
    if settings.ENVIRONMENT_NAME:
        return [settings.ENVIRONMENT_NAME, "warning"]
    if settings.DEBUG:
        return [_("Development"), "info"]
    return None
