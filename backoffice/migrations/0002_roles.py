"""Create the groups Users, Managers and Content managers with their permissions (design §3).

Permissions are normally created after migrations by a signal; they are created here first
so that every fresh database has complete groups straight after ``migrate``.
"""
from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "Users": [
        "mailings.add_client", "mailings.change_client", "mailings.delete_client", "mailings.view_client",
        "mailings.add_message", "mailings.change_message", "mailings.delete_message", "mailings.view_message",
        "mailings.add_mailing", "mailings.change_mailing", "mailings.delete_mailing", "mailings.view_mailing",
        "mailings.view_attempt", "mailings.view_delivery",
    ],
    "Managers": [
        "mailings.view_client", "mailings.view_message", "mailings.view_mailing",
        "mailings.view_attempt", "mailings.view_delivery", "mailings.disable_mailing",
        "backoffice.view_user", "backoffice.block_user",
    ],
    "Content managers": [
        "content.add_post", "content.change_post", "content.delete_post", "content.view_post",
    ],
}


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for code in codes:
            app_label, codename = code.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_initial"),
        ("mailings", "0001_initial"),
        ("content", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
