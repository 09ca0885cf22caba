"""What every owned model shares: the owner scoping and the timestamps."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from backoffice import permissions


class OwnedQuerySet(models.QuerySet):
    def owned_by(self, user):
        return self.filter(owner=user)

    def visible_to(self, user):
        """The rows ``user`` may see: everyone's for managers and superusers, else their own."""
        return permissions.scope_to_user(self, user)

    def visible_one(self, user, pk):
        """The row ``pk`` if ``user`` may see it; None if it is someone else's, gone or ``pk`` malformed.

        The one lookup of "an object this user may see" behind every admin page, button,
        export and report: someone else's object is simply not found.
        """
        if not str(pk).isdigit():
            return None
        return self.visible_to(user).filter(pk=pk).first()


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True
