"""The one way a moment is shown to people: the language's DATETIME_FORMAT, in their time zone.

Django's admin shows every date-time field with DATETIME_FORMAT in the current time zone
("27 ноября 2026 г. 14:05", "Nov. 27, 2026, 2:05 p.m."); titles, reports and messages use
the same, through this helper, instead of strftime patterns that ignore language and zone.
"""
from django.utils import formats, timezone

NO_MOMENT = "—"


def local_datetime(moment):
    """``moment`` as people read it, or a dash when there is none."""
    if moment is None:
        return NO_MOMENT
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
