import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

EXPECTED = {
    "alice": {"mailings_mailing", "mailings_message", "mailings_client", "mailings_attempt"},
    "manager": {"mailings_mailing", "mailings_message", "mailings_client", "mailings_attempt", "backoffice_user"},
    "content_manager": {"content_post"},
    "superuser": {
        "mailings_mailing", "mailings_message", "mailings_client", "mailings_attempt",
        "backoffice_user", "auth_group", "content_post", "django_q_schedule", "django_q_failure",
    },
}
ALL_LINKS = set().union(*EXPECTED.values())


@pytest.mark.parametrize("role", EXPECTED)
def test_each_role_sees_only_its_menu(client, request, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    page = client.get(reverse("admin:index")).content.decode()
    for link in ALL_LINKS:
        url = reverse(f"admin:{link}_changelist")
        assert (f'href="{url}"' in page) == (link in EXPECTED[role]), (role, link)
