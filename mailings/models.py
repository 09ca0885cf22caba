"""Clients, messages, mailings and the record of every run.

A run of a mailing is one ``Attempt`` (the specification asks for one per run, not per
client) with one ``Delivery`` row per recipient. Delivery rows are claimed before a send and
updated after it, which is what makes runs resumable and duplicate-free.
"""
import secrets

import email_validator
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from backoffice import permissions
from backoffice.validators import validate_multiline, validate_single_line
from lib.dates import local_datetime


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

    def held_reason(self):
        """Why this mailing does not send, in words; "" when it is active (ACTIVE_MAILING).

        Disabling and blocking name who or when, so nobody mistakes a held mailing for a
        live one.
        """
        if not self.is_enabled:
            if self.disabled_by_id:
                return _("Disabled by %(who)s on %(when)s; nothing is sent until it is enabled.") % {
                    "who": self.disabled_by.email, "when": local_datetime(self.disabled_at)}
            return _("Disabled; nothing is sent until it is enabled.")
        if self.paused_at:
            return _("Paused by %(who)s on %(when)s; it continues where it stopped when resumed.") % {
                "who": self.paused_by.email if self.paused_by_id else "—", "when": local_datetime(self.paused_at)}
        if not self.owner.is_active:
            return _("Its owner %(owner)s is blocked (since %(when)s); nothing is sent until they are unblocked.") % {
                "owner": self.owner.email, "when": local_datetime(self.owner.blocked_at)}
        if self.status == MailingStatus.COMPLETED:
            return _("Completed: no runs are left in its schedule.")
        if self.status == MailingStatus.CREATED and self.next_run_at is None:
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


class AttemptStatus(models.TextChoices):
    RUNNING = "running", _("running")
    PAUSED = "paused", _("paused")
    SUCCESS = "success", _("success")
    FAILURE = "failure", _("failure")


class AttemptKind(models.TextChoices):
    SCHEDULED = "scheduled", _("scheduled")
    MANUAL = "manual", _("sent now")
    RETRY = "retry", _("retry of failed recipients")
    TEST = "test", _("test to the owner")


class Attempt(models.Model):
    mailing = models.ForeignKey(
        Mailing, verbose_name=_("mailing"), on_delete=models.CASCADE, related_name="attempts"
    )
    kind = models.CharField(
        _("kind"), max_length=10, choices=AttemptKind.choices, default=AttemptKind.SCHEDULED
    )
    scheduled_for = models.DateTimeField(
        _("scheduled for"),
        help_text=_("The due time of the run; one run per due time, whoever starts it."),
    )
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=AttemptStatus.choices,
        default=AttemptStatus.RUNNING,
        db_index=True,
    )
    server_response = models.TextField(_("mail server response"), blank=True)
    recipients = models.PositiveIntegerField(_("recipients"), default=0)
    sent = models.PositiveIntegerField(_("sent"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    unknown = models.PositiveIntegerField(_("unknown"), default=0)
    heartbeat_at = models.DateTimeField(
        _("last progress at"),
        null=True,
        blank=True,
        help_text=_("A running attempt whose heartbeat is old belongs to a dead worker."),
    )

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        constraints = [
            models.UniqueConstraint(
                fields=["mailing", "kind", "scheduled_for"], name="attempt_one_per_run"
            ),
        ]
        indexes = [models.Index(fields=["mailing", "-started_at"])]

    def __str__(self):
        return f"{self.mailing} · {local_datetime(self.started_at)}"


class DeliveryStatus(models.TextChoices):
    """A row's life: pending -> claimed (a worker holds it) -> sending (inside an SMTP
    transaction) -> a result. After a worker dies, 'claimed' goes back to pending and only
    'sending' becomes unknown."""

    PENDING = "pending", _("pending")
    CLAIMED = "claimed", _("claimed by a worker, not yet sent")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    DEFERRED = "deferred", _("temporary failure, will retry")
    FAILED = "failed", _("failed")
    UNKNOWN = "unknown", _("unknown (may have been delivered)")
    SKIPPED = "skipped", _("skipped")
    # After a 'sent': what came back later, to the delivery's VERP address (mailings.bounces).
    BOUNCED = "bounced", _("bounced (the address does not exist)")
    COMPLAINED = "complained", _("complained (marked as spam)")


class SkipReason(models.TextChoices):
    """Why a recipient got a 'skipped' row: its address is suppressed (for one of the
    suppression reasons) or its client was deleted before sending."""

    UNSUBSCRIBED = SuppressionReason.UNSUBSCRIBED.value, SuppressionReason.UNSUBSCRIBED.label
    BOUNCED = SuppressionReason.BOUNCED.value, SuppressionReason.BOUNCED.label
    COMPLAINED = SuppressionReason.COMPLAINED.value, SuppressionReason.COMPLAINED.label
    MANUAL = SuppressionReason.MANUAL.value, SuppressionReason.MANUAL.label
    DELETED = "deleted", _("client deleted")


class Delivery(models.Model):
    attempt = models.ForeignKey(
        Attempt, verbose_name=_("attempt"), on_delete=models.CASCADE, related_name="deliveries"
    )
    client = models.ForeignKey(
        Client,
        verbose_name=_("client"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    email = models.EmailField(_("e-mail"), help_text=_("The address at the time of sending."))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
        db_index=True,
    )
    smtp_code = models.PositiveSmallIntegerField(_("SMTP code"), null=True, blank=True)
    smtp_response = models.TextField(_("SMTP response"), blank=True)
    tries = models.PositiveSmallIntegerField(_("tries"), default=0)
    claim = models.CharField(
        _("claimed by"), max_length=32, blank=True, db_default="",
        help_text=_("The worker run holding the row; a run taken over by another keeps its hands off."),
    )
    # db_default: the INSERT … SELECTs that write deliveries without a reason (retries) need none.
    skip_reason = models.CharField(
        _("why skipped"), max_length=12, blank=True, default="", db_default="", choices=SkipReason.choices,
        help_text=_("Set on a skipped recipient: unsubscribed, on the suppression list and why, or deleted."),
    )
    sent_at = models.DateTimeField(_("time"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["attempt", "id"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "client"], name="delivery_one_per_client"),
        ]
        indexes = [
            # Claiming a batch reads pending rows in id order after the last claimed id; the
            # index also serves every (attempt, status) lookup. (A separate (attempt, status)
            # index was dropped: each status change, two per message, updated it for nothing.)
            models.Index(fields=["attempt", "status", "id"], name="delivery_claim_idx"),
        ]

    def __str__(self):
        return f"{self.email}: {self.status_label(self.status, self.skip_reason)}"

    @staticmethod
    def status_label(status, skip_reason=""):
        """The status as people read it: a skipped row says why ("skipped: bounced")."""
        label = DeliveryStatus(status).label
        if status == DeliveryStatus.SKIPPED and skip_reason:
            return _("%(status)s: %(reason)s") % {"status": label, "reason": SkipReason(skip_reason).label}
        return label


# --- Statistics kept apart from the rows (mailings/statistics/rollup.py, retention.py) ------


class DeliveryStat(models.Model):
    """How many deliveries of a run had one outcome on one local day: what every figure reads.

    Several rows may share a key (a roll-up adds rows, it never updates them): readers sum.
    A finished run's rows are counted once (and rows added to it later by the watermark);
    a running or paused run's rows are recounted at each roll-up.
    """

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="stats")
    day = models.DateField()  # local date (TIME_ZONE) of sent_at, or of the run's start without one
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    smtp_code = models.PositiveSmallIntegerField(null=True)
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="deliverystat_day_idx")]


class CompactedDeliveries(models.Model):
    """Counts of Delivery rows removed by retention, same shape as ``DeliveryStat``: with the
    rows still kept, they let ``rebuild_statistics`` recount every figure."""

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="compacted")
    day = models.DateField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    smtp_code = models.PositiveSmallIntegerField(null=True)
    count = models.PositiveIntegerField()


class RolledUpRun(models.Model):
    """A finished run whose outcomes are in ``DeliveryStat`` for good (up to the watermark)."""

    attempt = models.OneToOneField(Attempt, on_delete=models.CASCADE, primary_key=True, related_name="rollup")


class StatWatermark(models.Model):
    """One row: the highest Delivery id the roll-up has seen. Updating it first makes a
    roll-up hold the row's lock, so roll-ups (and compaction batches) never overlap."""

    last_delivery_id = models.BigIntegerField(default=0)
    rolled_at = models.DateTimeField(null=True)


class RateSlot(models.Model):
    """The next free sending slot of one shared rate limit (a run, or a recipient domain),
    used when the cache is not Redis (``mailings.delivery.throttle``)."""

    key = models.CharField(max_length=200, unique=True)
    next_at = models.FloatField()  # Unix time of the next free slot

    class Meta:
        verbose_name = _("rate limit slot")
        verbose_name_plural = _("rate limit slots")

    def __str__(self):
        return self.key
