"""Create the groups Users, Managers and Content managers with their permissions.

Permissions are normally created after migrations by a signal; they are created here first
so that every fresh database has complete groups straight after ``migrate``. The role table
lives in backoffice/roles.py, which also re-syncs it after every migrate and flush.
"""
from django.db import migrations

from backoffice.roles import ROLES, create_all_permissions, ensure_roles


def create_roles(apps, schema_editor):
    create_all_permissions(apps)
    ensure_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


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
