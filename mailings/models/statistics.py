"""Roll-up figures that do not grow with the Delivery table, and the shared rate-limit slots."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .delivery import Attempt, DeliveryStatus


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
