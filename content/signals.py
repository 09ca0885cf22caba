"""Targeted invalidation of the public pages' cache when the data behind them changes.

Mailings announces the changes it writes without model signals (``QuerySet.update()``: a
run that ends or pauses, an unsubscription) with ``mailings.signals.figures_changed``;
mailings never calls into content.
"""
from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from content import cache
from content.models import Post
from mailings.models import Client, Mailing
from mailings.signals import figures_changed


@receiver(post_save, sender=Mailing, dispatch_uid="site-mailing-saved")
@receiver(post_delete, sender=Mailing, dispatch_uid="site-mailing-deleted")
@receiver(post_save, sender=Client, dispatch_uid="site-client-saved")
@receiver(post_delete, sender=Client, dispatch_uid="site-client-deleted")
def mailings_changed(sender, **kwargs):
    cache.invalidate_home_stats()


@receiver(figures_changed, dispatch_uid="site-mailing-figures-changed")
def mailing_figures_changed(sender, **kwargs):
    cache.invalidate_home_stats()


@receiver(m2m_changed, sender=Mailing.clients.through, dispatch_uid="site-mailing-clients")
def mailing_clients_changed(sender, action, **kwargs):
    if action in ("post_add", "post_remove", "post_clear"):
        cache.invalidate_home_stats()


@receiver(post_save, sender=get_user_model(), dispatch_uid="site-user-saved")
def user_saved(sender, update_fields=None, **kwargs):
    """Blocking or unblocking changes which mailings are active; logins (last_login) do not."""
    if update_fields is None or "is_active" in update_fields:
        cache.invalidate_home_stats()


@receiver(post_save, sender=Post, dispatch_uid="site-post-saved")
@receiver(post_delete, sender=Post, dispatch_uid="site-post-deleted")
def post_changed(sender, **kwargs):
    cache.invalidate_blog()
