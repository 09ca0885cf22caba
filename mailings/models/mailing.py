"""What is sent and when: messages and mailings (the schedule lives in ``mailings.schedule``)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from backoffice.validators import validate_single_line
from lib.dates import local_datetime

from .audience import Client, ClientList
from .base import OwnedQuerySet, TimestampedModel


class Message(TimestampedModel):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="messages",
    )
    subject = models.CharField(_("subject"), max_length=255, validators=[validate_single_line])
    body = models.TextField(
        _("body"),
        help_text=_("Placeholders {{ full_name }} and {{ email }} are replaced for each recipient."),
    )
    # The owner's own gate (mailings/preflight.py, spam_refusal): empty, nothing is blocked.
    spam_threshold = models.DecimalField(
        _("spam score threshold"), max_digits=5, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Runs of mailings with this message do not start while SpamAssassin scores it above this "
                    "number (SpamAssassin itself calls 5 and more spam). Empty: nothing is blocked."),
    )

    objects = OwnedQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at"]

    def __str__(self):
        return self.subject


class Periodicity(models.TextChoices):
    ONCE = "once", _("once")
    DAILY = "daily", _("daily")
    WEEKLY = "weekly", _("weekly")
    MONTHLY = "monthly", _("monthly")


class MailingStatus(models.TextChoices):
    CREATED = "created", _("created")
    RUNNING = "running", _("running")
    COMPLETED = "completed", _("completed")


# "Active" (will it send?), the one definition behind the mailing page, the dashboard's
# upcoming runs and the home page: enabled, its owner not blocked, and either running (a run
# is going or more are scheduled) or created with its first run ahead. ``Mailing.held_reason``
# says in words why a mailing outside it does not send.
ACTIVE_MAILING = models.Q(is_enabled=True, owner__is_active=True, paused_at__isnull=True) & (
    models.Q(status=MailingStatus.RUNNING) | models.Q(status=MailingStatus.CREATED, next_run_at__isnull=False)
)


class MailingQuerySet(OwnedQuerySet):
    def active(self):
        """Mailings that send: see ACTIVE_MAILING."""
        return self.filter(ACTIVE_MAILING)

    def upcoming(self):
        """Active mailings with a run ahead, soonest first: what the dashboard lists."""
        return self.active().filter(next_run_at__isnull=False).order_by("next_run_at", "pk")

    def due(self, now):
        """Mailings whose next run should have started by ``now`` and may start."""
        return (
            self.filter(is_enabled=True, owner__is_active=True, paused_at__isnull=True, next_run_at__lte=now)
            .exclude(status=MailingStatus.COMPLETED)
            .filter(models.Q(paused_until__isnull=True) | models.Q(paused_until__lte=now))
        )


class Mailing(TimestampedModel):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="mailings",
    )
    name = models.CharField(
        _("name"), max_length=255, blank=True, validators=[validate_single_line],
        help_text=_("For you only; recipients see the message's subject."),
    )
    message = models.ForeignKey(
        Message, verbose_name=_("message"), on_delete=models.PROTECT, related_name="mailings"
    )
    lists = models.ManyToManyField(ClientList, verbose_name=_("lists"), related_name="mailings", blank=True)
    clients = models.ManyToManyField(Client, verbose_name=_("clients"), related_name="mailings", blank=True)
    all_clients = models.BooleanField(
        _("all my clients"), default=False, help_text=_("Send to every client of the owner, whatever the lists.")
    )
    start_at = models.DateTimeField(_("first send at"))
    end_at = models.DateTimeField(
        _("end at"), null=True, blank=True, help_text=_("No runs start after this moment.")
    )
    periodicity = models.CharField(
        _("periodicity"), max_length=10, choices=Periodicity.choices, default=Periodicity.ONCE
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=MailingStatus.choices,
        default=MailingStatus.CREATED,
        db_index=True,
    )
    is_enabled = models.BooleanField(_("enabled"), default=True, db_index=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("disabled by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    next_run_at = models.DateTimeField(_("next run at"), null=True, blank=True, db_index=True)
    paused_until = models.DateTimeField(
        _("paused until"),
        null=True,
        blank=True,
        help_text=_("Set when the mail server kept failing; the run resumes at this time."),
    )
    pause_reason = models.TextField(_("pause reason"), blank=True)
    # A person's pause (services.pause_mailing), not the server's (paused_until): the run
    # stops at its next batch and continues where it stopped when resumed.
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("paused by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = MailingQuerySet.as_manager()

    class Meta:
        verbose_name = _("mailing")
        verbose_name_plural = _("mailings")
        ordering = ["-start_at"]
        permissions = [("disable_mailing", _("Can disable and enable any mailing"))]

    def __str__(self):
        title = self.name or str(self.message)
        return f"#{self.pk} {title}" if self.pk else title

    # What holds a mailing back (``hold``). The first three stop a run that is going too.
    DISABLED, PAUSED, OWNER_BLOCKED, COMPLETED, UNSCHEDULED = (
        "disabled", "paused", "owner_blocked", "completed", "unscheduled")
    STOPPING_HOLDS = (DISABLED, PAUSED, OWNER_BLOCKED)

    def hold(self):
        """What keeps this mailing from sending, "" when it is active (ACTIVE_MAILING): the one
        rule, in the one order, behind ``held_reason``, the admin's state and next run, and
        the stop of a going run (runs.state.stop_reason). A person's switch comes first (the
        mailing's own flag, then its pause), then the owner's block, then the schedule."""
        if not self.is_enabled:
            return self.DISABLED
        if self.paused_at:
            return self.PAUSED
        if not self.owner.is_active:
            return self.OWNER_BLOCKED
        if self.status == MailingStatus.COMPLETED:
            return self.COMPLETED
        if self.status == MailingStatus.CREATED and self.next_run_at is None:
            return self.UNSCHEDULED
        return ""

    def held_reason(self):
        """Why this mailing does not send (``hold``), in words; "" when it is active.

        Disabling, pausing and blocking name who and when, so nobody mistakes a held mailing
        for a live one.
        """
        hold = self.hold()
        if hold == self.DISABLED:
            if self.disabled_by_id:
                return _("Disabled by %(who)s on %(when)s; nothing is sent until it is enabled.") % {
                    "who": self.disabled_by.email, "when": local_datetime(self.disabled_at)}
            return _("Disabled; nothing is sent until it is enabled.")
        if hold == self.PAUSED:
            return _("Paused by %(who)s on %(when)s; it continues where it stopped when resumed.") % {
                "who": self.paused_by.email if self.paused_by_id else "—", "when": local_datetime(self.paused_at)}
        if hold == self.OWNER_BLOCKED:
            return _("Its owner %(owner)s is blocked (since %(when)s); nothing is sent until they are unblocked.") % {
                "owner": self.owner.email, "when": local_datetime(self.owner.blocked_at)}
        if hold == self.COMPLETED:
            return _("Completed: no runs are left in its schedule.")
        if hold == self.UNSCHEDULED:
            return _("No run is scheduled.")
        return ""

    @property
    def is_active(self):
        return not self.held_reason()

    def clean(self):
        super().clean()
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValidationError({"end_at": _("The end must be after the first send.")})
        if self.owner_id and self.message_id and self.message.owner_id != self.owner_id:
            raise ValidationError({"message": _("Choose one of your own messages.")})
