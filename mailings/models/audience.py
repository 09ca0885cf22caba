"""Who is mailed: clients, their lists, the suppression list, soft-bounce streaks and
subscriptions with double opt-in."""
import secrets

import email_validator
from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from backoffice.validators import validate_multiline, validate_single_line

from .base import OwnedQuerySet, TimestampedModel


class ClientList(TimestampedModel):
    """A named group of one owner's clients; a client may be in many lists."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="client_lists",
    )
    name = models.CharField(_("name"), max_length=255, validators=[validate_single_line])
    description = models.TextField(_("description"), blank=True, validators=[validate_multiline])
    subscription_enabled = models.BooleanField(
        _("public subscription form"),
        default=False,
        help_text=_("Anyone may ask to join the list on its public page; they join once they confirm by e-mail."),
    )
    # Names the list in its public form's URL; it reveals nothing and can be replaced.
    subscription_token = models.CharField(
        _("form address"), max_length=64, unique=True, default=secrets.token_urlsafe, editable=False
    )

    objects = OwnedQuerySet.as_manager()

    class Meta:
        verbose_name = _("client list")
        verbose_name_plural = _("client lists")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "owner", Lower("name"), name="clientlist_owner_name_ci_unique",
                violation_error_message=_("You already have a list with this name."),
            ),
        ]

    def __str__(self):
        return self.name


class Client(TimestampedModel):
    # No index of its own: the (owner, email) index serves every lookup by owner, and one
    # index fewer is one less to update per imported row.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="clients",
        db_index=False,
    )
    email = models.EmailField(_("e-mail"))
    full_name = models.CharField(_("full name"), max_length=255, blank=True, validators=[validate_single_line])
    comment = models.TextField(_("comment"), blank=True, validators=[validate_multiline])
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    lists = models.ManyToManyField(ClientList, verbose_name=_("lists"), related_name="clients", blank=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                "owner",
                Lower("email"),
                name="client_owner_email_ci_unique",
                violation_error_message=_("You already have a client with this e-mail."),
            ),
        ]
        indexes = [models.Index(fields=["owner", "email"])]

    def __str__(self):
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    @staticmethod
    def normalize_email(email):
        """Client addresses are stored trimmed, lower-case, with the domain in its ASCII (IDNA)
        form: one per owner, whatever the case or the spelling of the domain, so
        ``ann@пример.рф`` and ``ann@xn--e1afmkfd.xn--p1ai`` are one client. The ASCII form is
        what every mail server accepts without SMTPUTF8.
        """
        text = (email or "").strip()
        if text.isascii():
            return text.lower()  # an ASCII domain is its own IDNA form
        try:
            parsed = email_validator.validate_email(
                text, check_deliverability=False, globally_deliverable=False, test_environment=True,
                allow_quoted_local=True, allow_domain_literal=True,
            )
        except email_validator.EmailNotValidError:
            return text.lower()  # not an address: validation refuses it with its own message
        local_part = parsed.normalized.rpartition("@")[0]
        return f"{local_part}@{parsed.ascii_domain}".lower()

    def clean(self):
        super().clean()
        if self.email:
            self.email = self.normalize_email(self.email)


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
    BOUNCED = "bounced", _("bounced")
    COMPLAINED = "complained", _("complained (spam)")
    MANUAL = "manual", _("added by hand")


class Suppression(models.Model):
    """An address of one owner that is never mailed, whatever client rows come and go.

    Kept by address, not by client: deleting a client and importing it again does not
    resurrect someone who unsubscribed. Addresses are stored as ``Client.normalize_email``
    makes them.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="suppressions",
    )
    email = models.EmailField(_("e-mail"))
    reason = models.CharField(_("reason"), max_length=12, choices=SuppressionReason.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppression list")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                "owner", Lower("email"), name="suppression_owner_email_ci_unique",
                violation_error_message=_("This address is already on your suppression list."),
            ),
        ]

    def __str__(self):
        return f"{self.email} ({self.get_reason_display()})"

    def clean(self):
        super().clean()
        if self.email:
            self.email = Client.normalize_email(self.email)


class SoftBounces(models.Model):
    """Temporary failures reported back (full mailbox, greylisting…) for one address of one
    owner, in a row: after ``SOFT_BOUNCE_LIMIT`` of them the address is suppressed. A message
    to the address that went out after the last soft bounce and did not bounce ends the
    streak (mailings.bounces)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.CASCADE,
                              related_name="+")
    email = models.EmailField(_("e-mail"))
    in_a_row = models.PositiveIntegerField(_("soft bounces in a row"), default=0)
    last_delivery_id = models.BigIntegerField(_("last soft-bounced delivery"))
    diagnostic = models.TextField(_("last diagnostic"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("soft bounces of an address")
        verbose_name_plural = _("soft bounces")
        constraints = [
            models.UniqueConstraint("owner", Lower("email"), name="soft_bounces_owner_email_ci_unique"),
        ]

    def __str__(self):
        return f"{self.email}: {self.in_a_row}"


class Subscription(models.Model):
    """A request to join a list from its public form, and once confirmed, the consent.

    Nobody is added to a list (nor mailed) before the link in the confirmation mail is used.
    The record stays as the proof of consent: when, from which form, from which IP.
    """

    client_list = models.ForeignKey(
        ClientList, verbose_name=_("list"), on_delete=models.CASCADE, related_name="subscriptions"
    )
    email = models.EmailField(_("e-mail"))
    full_name = models.CharField(_("full name"), max_length=255, blank=True, validators=[validate_single_line])
    form_token = models.CharField(_("form"), max_length=64, help_text=_("The address of the form used."))
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    requested_ip = models.GenericIPAddressField(_("requested from IP"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    confirmed_ip = models.GenericIPAddressField(_("confirmed from IP"), null=True, blank=True)
    client = models.ForeignKey(
        "Client", verbose_name=_("client"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="subscriptions",
    )

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-requested_at"]

    def __str__(self):
        return f"{self.email} → {self.client_list}"
