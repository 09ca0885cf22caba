"""The admin of clients, messages, mailings and their runs (Django's autodiscover imports this).

Importing the modules registers their ModelAdmins on ``admin.site``.
"""
from mailings.admin import mailings  # noqa: F401
