"""Statistics pages of a mailing (report, charts, export), mixed into MailingAdmin."""


class MailingReportsAdminMixin:
    """Adds the per-mailing report URL and link."""
