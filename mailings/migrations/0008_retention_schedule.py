"""Create the hourly django-q2 schedule that compacts old delivery rows (mailings/retention.py)."""
from django.db import migrations


def create_schedule(apps, schema_editor):
    from mailings.retention import ensure_schedule

    ensure_schedule(apps.get_model("django_q", "Schedule"))


def delete_schedule(apps, schema_editor):
    from mailings.retention import RETENTION_SCHEDULE

    apps.get_model("django_q", "Schedule").objects.filter(name=RETENTION_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("mailings", "0007_delivery_stats"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
