"""Run due mailings (or one) in the foreground, through the same functions as the worker."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from mailings import dispatch, tasks
from mailings.models import Attempt, AttemptKind, Mailing


class ProgressBar:
    def __init__(self, stream, total):
        self.stream, self.total, self.done = stream, total, 0

    def __call__(self, counts):
        self.done += sum(counts.values())
        total = max(self.total, 1)
        filled = int(30 * min(self.done, total) / total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
        self.stream.flush()


class Command(BaseCommand):
    help = "Send the mailings that are due now (or --mailing ID now) in the foreground, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("--mailing", type=int, help="send this mailing now, due or not")
        parser.add_argument("--join", type=int, metavar="ATTEMPT",
                            help="help the workers delivering this running run (attempt id)")

    def handle(self, mailing=None, join=None, **options):
        now = timezone.now()
        if join is not None:
            found = Attempt.objects.filter(pk=join).first()
            if found is None:
                raise CommandError(_("No run with id %(id)s.") % {"id": join})
            self.report(tasks.join_run(join, progress=self.bar(found.recipients)))
            return
        if mailing is not None:
            found = Mailing.objects.filter(pk=mailing).first()
            if found is None:
                raise CommandError(_("No mailing with id %(id)s.") % {"id": mailing})
            self.run_one(found)
            return
        jobs = []
        dispatch.dispatch(
            now=now,
            enqueue_run=lambda pk: jobs.append(("run", pk)),
            enqueue_resume=lambda pk: jobs.append(("resume", pk)),
        )
        if not jobs:
            self.stdout.write(_("No mailing is due."))
        for kind, pk in jobs:
            if kind == "run":
                self.run_one(Mailing.objects.get(pk=pk))
            else:
                attempt = Attempt.objects.get(pk=pk)
                self.report(tasks.resume_attempt(pk, progress=self.bar(attempt.recipients)))

    def bar(self, total):
        return ProgressBar(self.stdout, total)

    def run_one(self, mailing):
        total = mailing.clients.count()
        self.stdout.write(f"{mailing} ({total})")
        if mailing.next_run_at is not None:
            attempt = tasks.run_mailing(mailing.pk, expected=mailing.next_run_at, progress=self.bar(total))
        else:
            attempt = tasks.run_extra(mailing.pk, AttemptKind.MANUAL, timezone.now(), progress=self.bar(total))
        self.report(attempt, mailing.pk)

    def report(self, attempt, mailing_id=None):
        self.stdout.write("")
        if attempt is None:
            self.stdout.write(held_reason(mailing_id) or _(
                "Not sent: the run is taken by another worker, or the mailing is disabled."))
            return
        self.stdout.write(f"{attempt.get_status_display()}: {attempt.server_response}")


def held_reason(mailing_id):
    """The reason a start refused before its claim left on the mailing while it waits
    (runs.state.hold_start: the spam threshold, a list still filling), or ""."""
    if mailing_id is None:
        return ""
    held = Mailing.objects.filter(pk=mailing_id, paused_until__gt=timezone.now()).values_list("pause_reason", flat=True)
    return held.first() or ""
