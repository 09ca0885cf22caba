"""Sending-related admin features (send now, test, retry, progress), mixed into MailingAdmin.

Owned by the sending engine; ``mailings/admin.py`` only inherits from these mixins.
"""


class MailingSendingAdminMixin:
    """Actions and read-only displays of MailingAdmin that concern sending."""


class AttemptSendingAdminMixin:
    """Live progress and delivery list of AttemptAdmin."""
