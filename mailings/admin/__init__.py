"""The admin of clients, messages, mailings and their runs (Django's autodiscover imports this).

Importing each module registers its ModelAdmin on ``admin.site``:

- ``base``: owner scoping (OwnedAdmin, ReadOnlyAdmin, NotFoundInsteadOfRedirect), the one
  lookup of a mailing this user may see, the owner-scoped autocomplete widgets;
- ``clients``, ``messages``: one module per model;
- ``mailings``: the mailing, its disable / enable and sending buttons (send now, test, retry);
- ``attempts``: runs and deliveries, read-only, with the live progress view;
- ``reports``: the report pages of a mailing, mixed into the mailing admin.
"""
from mailings.admin import attempts, clients, lists, mailings, messages, suppressions  # noqa: F401
