"""The home page figures (specification, "Главная страница"), computed from the database.

- mailings: every mailing, whatever its state.
- active mailings: enabled, status "running" (the first run has started and the schedule
  has runs left), and the owner is not blocked. Created-but-not-started, completed and
  disabled mailings, and those of blocked users (which do not send), are not active.
- unique clients ("уникальные клиенты для рассылок"): distinct e-mail addresses, ignoring
  case, of the clients that are recipients of at least one mailing, whoever owns them (two
  users' clients with the same address are one person). A client in no mailing is not
  counted; an unsubscribed one still is (they remain in the mailing's list).
"""
from django.db.models import Count, Q
from django.db.models.functions import Lower

from mailings.models import Client, Mailing, MailingStatus

ACTIVE_MAILING = Q(is_enabled=True, status=MailingStatus.RUNNING, owner__is_active=True)


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
