"""The home page figures (specification, "Главная страница"), computed from the database.

- mailings: every mailing, whatever its state.
- active mailings: those that send, ``Mailing.objects.active()`` (mailings.models,
  ACTIVE_MAILING): enabled, the owner not blocked, running or created with a first run
  ahead. The mailing page and the dashboard's upcoming runs use the same definition.
- unique clients ("уникальные клиенты для рассылок"): distinct e-mail addresses, ignoring
  case, of the clients that are recipients of at least one mailing, whoever owns them (two
  users' clients with the same address are one person). A client in no mailing is not
  counted; an unsubscribed one still is (they remain in the mailing's list).
"""
from django.db.models import Count
from django.db.models.functions import Lower

from mailings.models import ACTIVE_MAILING, Client, Mailing


def home_figures():
    mailings = Mailing.objects.aggregate(
        total=Count("id"), active=Count("id", filter=ACTIVE_MAILING)
    )
    unique_clients = (
        Client.objects.filter(mailings__isnull=False)
        .values(address=Lower("email"))
        .distinct()
        .count()
    )
    return {
        "mailings": mailings["total"],
        "active_mailings": mailings["active"],
        "unique_clients": unique_clients,
    }
