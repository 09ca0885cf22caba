"""A mailing's report as tables to download: its runs (with their bounce and complaint
rates), its failed recipients, its bounced and complained ones (with the words of the
server that sent the bounce back) and its skipped ones (with why), as the report page lists them.

The same filter as the report page; every cell escaped against formula injection. The
files are written by ``mailings.spreadsheets`` (CSV, XLSX).
"""
import tablib
from django.utils.translation import gettext as _

from mailings.models import AttemptKind, AttemptStatus, DeliveryStatus, SkipReason
from mailings.spreadsheets import escape_formula, spreadsheet_datetime
from mailings.statistics import reports


def attempts_dataset(mailing, filters):
    kinds, statuses = dict(AttemptKind.choices), dict(AttemptStatus.choices)
    dataset = tablib.Dataset(
        headers=[
            _("Run"), _("Kind"), _("Started at"), _("Finished at"), _("Status"), _("Recipients"),
            _("Sent"), _("Failed"), _("Unknown"), _("Success rate, %"), _("Mail server response"),
            _("Bounced"), _("Complained"), _("Bounce rate, %"), _("Complaint rate, %"),
        ],
        title=_("Runs"),
    )
    for row in reports.attempts_for_export(mailing, filters):
        dataset.append([escape_formula(value) for value in (
            row["pk"], str(kinds.get(row["kind"], row["kind"])), spreadsheet_datetime(row["started_at"]),
            spreadsheet_datetime(row["finished_at"]), str(statuses.get(row["status"], row["status"])),
            row["total"], row["n_sent"], row["n_failed"], row["n_unknown"],
            "" if row["rate"] is None else row["rate"], row["server_response"],
            row["n_bounced"], row["n_complained"],
            "" if row["bounce_rate"] is None else row["bounce_rate"],
            "" if row["complaint_rate"] is None else row["complaint_rate"],
        )])
    return dataset


def failures_dataset(mailing, filters):
    statuses = dict(DeliveryStatus.choices)
    dataset = tablib.Dataset(
        headers=[_("Run"), _("Run started at"), _("Recipient"), _("Status"), _("Time"),
                 _("Tries"), _("SMTP code"), _("SMTP response")],
        title=_("Failed recipients"),
    )
    for row in reports.failures_for_export(mailing, filters):
        dataset.append([escape_formula(value) for value in (
            row["attempt_id"], spreadsheet_datetime(row["attempt__started_at"]), row["email"],
            str(statuses.get(row["status"], row["status"])), spreadsheet_datetime(row["sent_at"]),
            row["tries"], row["smtp_code"] or "", row["smtp_response"],
        )])
    return dataset


def returns_dataset(mailing, filters):
    statuses = dict(DeliveryStatus.choices)
    dataset = tablib.Dataset(
        headers=[_("Run"), _("Run started at"), _("Recipient"), _("Status"), _("Sent at"), _("The server's words")],
        title=_("Bounced and complained"),
    )
    for row in reports.returns_for_export(mailing, filters):
        dataset.append([escape_formula(value) for value in (
            row["attempt_id"], spreadsheet_datetime(row["attempt__started_at"]), row["email"],
            str(statuses.get(row["status"], row["status"])), spreadsheet_datetime(row["sent_at"]),
            row["smtp_response"],
        )])
    return dataset


def skipped_dataset(mailing, filters):
    reasons = dict(SkipReason.choices)
    dataset = tablib.Dataset(
        headers=[_("Run"), _("Run started at"), _("Recipient"), _("Why skipped")],
        title=_("Skipped recipients"),
    )
    for row in reports.skipped_for_export(mailing, filters):
        dataset.append([escape_formula(value) for value in (
            row["attempt_id"], spreadsheet_datetime(row["attempt__started_at"]), row["email"],
            str(reasons.get(row["skip_reason"], row["skip_reason"])),
        )])
    return dataset


def report_datasets(mailing, filters):
    return [attempts_dataset(mailing, filters), failures_dataset(mailing, filters),
            returns_dataset(mailing, filters), skipped_dataset(mailing, filters)]
