"""Create the django-q2 schedules that run the mailing dispatcher, so a fresh setup sends by itself."""
from django.db import migrations


def create_schedules(apps, schema_editor):
    from mailings.dispatch import ensure_schedules

    ensure_schedules(apps.get_model("django_q", "Schedule"))


def delete_schedules(apps, schema_editor):
    from mailings.dispatch import SCHEDULE_NAMES

    apps.get_model("django_q", "Schedule").objects.filter(name__in=SCHEDULE_NAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("mailings", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedules, delete_schedules)]
