"""Clients, messages, mailings and the record of every run, one module per concern.

A run of a mailing is one ``Attempt`` (the specification asks for one per run, not per
client) with one ``Delivery`` row per recipient. Delivery rows are claimed before a send and
updated after it, which is what makes runs resumable and duplicate-free (docs/architecture.md).
Everything is importable from ``mailings.models`` as before.
"""
from .audience import (
    Client,
    ClientList,
    SoftBounces,
    Subscription,
    Suppression,
    SuppressionReason,
)
from .base import OwnedQuerySet, TimestampedModel
from .delivery import (
    Attempt,
    AttemptKind,
    AttemptStatus,
    Delivery,
    DeliveryStatus,
    SkipReason,
)
from .mailing import (
    ACTIVE_MAILING,
    Mailing,
    MailingQuerySet,
    MailingStatus,
    Message,
    Periodicity,
)
from .statistics import (
    CompactedDeliveries,
    DeliveryStat,
    RateSlot,
    RolledUpRun,
    StatWatermark,
)

__all__ = [
    "ACTIVE_MAILING", "Attempt", "AttemptKind", "AttemptStatus", "Client", "ClientList",
    "CompactedDeliveries", "Delivery", "DeliveryStat", "DeliveryStatus", "Mailing",
    "MailingQuerySet", "MailingStatus", "Message", "OwnedQuerySet", "Periodicity", "RateSlot",
    "RolledUpRun", "SkipReason", "SoftBounces", "StatWatermark", "Subscription", "Suppression",
    "SuppressionReason", "TimestampedModel",
]
