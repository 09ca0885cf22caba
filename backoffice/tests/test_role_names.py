"""Role groups are shown by their translated names (issue #13, item 10).

The groups are database rows named in English ("Users", "Managers", "Content managers");
the admin and the start banner show them in the user's language.
"""
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db

RUSSIAN = ["Пользователи", "Менеджеры", "Контент-менеджеры"]
ENGLISH = re.compile(r">\s*(Users|Managers|Content managers)\s*<")


def test_the_user_filter_and_form_show_russian_role_names(client, superuser, alice):
    client.force_login(superuser)
    for url in (reverse("admin:backoffice_user_changelist"), reverse("admin:backoffice_user_change", args=[alice.pk])):
        html = client.get(url).content.decode()
        assert all(name in html for name in RUSSIAN), url
        assert ENGLISH.findall(html) == [], url


def test_the_group_list_shows_russian_role_names(client, superuser):
    client.force_login(superuser)
    html = client.get(reverse("admin:auth_group_changelist")).content.decode()
    assert all(name in html for name in RUSSIAN)
    assert ENGLISH.findall(html) == []


def test_the_start_banner_names_roles_in_russian():
    out = StringIO()
    with translation.override("ru"):
        call_command("welcome", "--url", "http://127.0.0.1:8000/", stdout=out)
    banner = out.getvalue()
    assert "manager@example.com" in banner and "Менеджеры" in banner and "Контент-менеджеры" in banner
    assert "Managers" not in banner and "Users" not in banner
