"""The record of every run: one ``Attempt`` per run, one ``Delivery`` per recipient."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from lib.dates import local_datetime

from .audience import Client, SuppressionReason
from .mailing import Mailing


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
    # No index of its own: the (attempt, client) constraint and delivery_claim_idx both begin
    # with the attempt. Every index costs each row of a run's start (bench/audiences.py).
    attempt = models.ForeignKey(
        Attempt, verbose_name=_("attempt"), on_delete=models.CASCADE, related_name="deliveries",
        db_index=False,
    )
    client = models.ForeignKey(
        Client,
        verbose_name=_("client"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    email = models.EmailField(_("e-mail"), help_text=_("The address at the time of sending."))
    # Not indexed alone: rows are looked up by status within a run (delivery_claim_idx), and
    # an index on ten values across every run cost each row of a run's start for nothing.
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
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
