"""The three role groups and their permissions.

Created by the data migration 0002_roles, and re-synced after every ``migrate`` or
``flush`` by a post_migrate receiver, so a database never lacks them.
"""
from django.utils.translation import pgettext_lazy

ROLES = {
    "Users": [
        "mailings.add_client", "mailings.change_client", "mailings.delete_client", "mailings.view_client",
        "mailings.add_message", "mailings.change_message", "mailings.delete_message", "mailings.view_message",
        "mailings.add_mailing", "mailings.change_mailing", "mailings.delete_mailing", "mailings.view_mailing",
        "mailings.view_attempt", "mailings.view_delivery",
        "mailings.add_clientlist", "mailings.change_clientlist", "mailings.delete_clientlist",
        "mailings.view_clientlist",
        "mailings.add_suppression", "mailings.change_suppression", "mailings.delete_suppression",
        "mailings.view_suppression",
    ],
    "Managers": [
        "mailings.view_client", "mailings.view_message", "mailings.view_mailing",
        "mailings.view_attempt", "mailings.view_delivery", "mailings.disable_mailing",
        "mailings.view_clientlist", "mailings.view_suppression",
        "backoffice.view_user", "backoffice.block_user",
    ],
    "Content managers": [
        "content.add_post", "content.change_post", "content.delete_post", "content.view_post",
    ],
}
# The groups are database rows named in English (above); people see these names, translated
# when shown (admin filters, forms, the group list, the start banner of `make run`).
ROLE_LABELS = {
    "Users": pgettext_lazy("role", "Users"),
    "Managers": pgettext_lazy("role", "Managers"),
    "Content managers": pgettext_lazy("role", "Content managers"),
    "superuser": pgettext_lazy("role", "superuser"),  # no group: the demo's administrator
}


def role_label(name):
    """The translated name of a role group; a group created by hand keeps its own name."""
    return ROLE_LABELS.get(name, name)


def create_all_permissions(apps):
    """Django creates permissions app by app after migrate; the roles need all of them now."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Migration state apps have no models_module, which create_permissions requires;
        # the real registry has one, which must be left as it is.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = original


def ensure_roles(group_model, permission_model):
    """Create missing groups and grant missing permissions; never removes anything.

    A permission of a model a later migration creates does not exist yet when the data
    migration 0002_roles runs; it is granted by the post_migrate sync that follows.
    """
    for name, codes in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        wanted = [code.split(".") for code in codes]
        permissions = [
            permission
            for app_label, codename in wanted
            for permission in permission_model.objects.filter(content_type__app_label=app_label, codename=codename)
        ]
        group.permissions.add(*permissions)


def sync_roles_after_migrate(sender, app_config=None, using="default", apps=None, **kwargs):
    """post_migrate receiver (also after the flush of a transactional test)."""
    if sender.label != "backoffice":
        return
    if apps is None:  # flush sends no app registry; migrate sends the migration state's
        from django.apps import apps
    try:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:
        return
    create_all_permissions(apps)
    ensure_roles(Group, Permission)
