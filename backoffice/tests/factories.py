"""Builders of people for every test suite: one password, a user of any role."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

PASSWORD = "correct-horse-battery-staple"


def make_user(email, group=None, **extra):
    """A verified staff user with PASSWORD, in ``group`` (a backoffice.permissions role) if given."""
    extra.setdefault("email_verified_at", timezone.now())
    extra.setdefault("is_staff", True)
    user = get_user_model().objects.create_user(email=email, password=PASSWORD, **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def make_superuser(email="root@example.com"):
    return get_user_model().objects.create_superuser(email=email, password=PASSWORD)
