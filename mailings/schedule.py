"""When a mailing runs: pure date maths over its schedule.

Times are computed in ``settings.TIME_ZONE``: daily and weekly runs keep the local
wall-clock time across DST changes, monthly runs keep the day of the month (clamped to the
month's last day). Nothing here writes; callers pass the moments, so tests control the clock.
"""
import calendar
import datetime

from django.utils import timezone

from mailings.models import AttemptKind, Periodicity


def _local(moment):
    return timezone.localtime(moment, timezone.get_default_timezone())


def _aware(naive):
    return timezone.make_aware(naive, timezone.get_default_timezone())


def _add_months(local_start, months):
    month_index = local_start.month - 1 + months
    year, month = local_start.year + month_index // 12, month_index % 12 + 1
    day = min(local_start.day, calendar.monthrange(year, month)[1])
    return local_start.replace(year=year, month=month, day=day)


def occurrence(mailing, index):
    """The ``index``-th run time of a periodic mailing (0 = its first send)."""
    if index == 0 or mailing.periodicity == Periodicity.ONCE:
        return mailing.start_at
    local_start = _local(mailing.start_at).replace(tzinfo=None)
    if mailing.periodicity == Periodicity.MONTHLY:
        return _aware(_add_months(local_start, index))
    days = 7 if mailing.periodicity == Periodicity.WEEKLY else 1
    # Adding days to the naive local time keeps the wall-clock time across DST.
    return _aware(local_start + datetime.timedelta(days=days * index))


def _estimate_index(mailing, moment):
    if mailing.periodicity == Periodicity.MONTHLY:
        start, local = _local(mailing.start_at), _local(moment)
        return (local.year - start.year) * 12 + local.month - start.month
    days = 7 if mailing.periodicity == Periodicity.WEEKLY else 1
    return (moment - mailing.start_at) // datetime.timedelta(days=days)


def next_run_after(mailing, moment):
    """The first run time strictly after ``moment``, or None when there is none left."""
    if mailing.start_at > moment:
        candidate = mailing.start_at
    elif mailing.periodicity == Periodicity.ONCE:
        return None
    else:
        index = max(1, _estimate_index(mailing, moment) - 1)
        candidate = occurrence(mailing, index)
        while candidate <= moment:
            index += 1
            candidate = occurrence(mailing, index)
    if mailing.end_at and candidate > mailing.end_at:
        return None
    return candidate


def _last_scheduled_for(mailing):
    return (
        mailing.attempts.filter(kind=AttemptKind.SCHEDULED)
        .order_by("-scheduled_for")
        .values_list("scheduled_for", flat=True)
        .first()
    )


def compute_next_run(mailing):
    """The run a mailing owes next: its first send, or the one after its last scheduled run.

    A run time already in the past is returned as is (it is due now), which is how runs
    missed while no worker ran are caught up: once, since claiming it skips to the future.
    """
    last = _last_scheduled_for(mailing)
    if last is None:
        if mailing.end_at and mailing.start_at > mailing.end_at:
            return None
        return mailing.start_at
    return next_run_after(mailing, last)
