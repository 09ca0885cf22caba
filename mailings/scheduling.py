"""When a mailing is due, and the state changes around it (owned by the sending engine).

Stubs so that admin and site code can call the final names now; the sending engine
replaces the bodies.
"""
from django.utils import timezone


def mailing_saved(*, mailing):
    """Called after a mailing and its clients are saved: (re)computes its next run."""


def disable_mailing(*, mailing, actor):
    """Stop a mailing; a run in progress stops at its next batch."""
    mailing.is_enabled = False
    mailing.disabled_at = timezone.now()
    mailing.disabled_by = actor
    mailing.save(update_fields=["is_enabled", "disabled_at", "disabled_by", "updated_at"])


def enable_mailing(*, mailing, actor):
    """Let a disabled mailing run again from its next due time."""
    mailing.is_enabled = True
    mailing.disabled_at = None
    mailing.disabled_by = None
    mailing.save(update_fields=["is_enabled", "disabled_at", "disabled_by", "updated_at"])
    mailing_saved(mailing=mailing)
