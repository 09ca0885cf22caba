"""Validating one row of a file: the address, the name and the comment."""
import re

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext as _

from backoffice.validators import (
    CONTROL_CHARACTERS,
    validate_multiline,
    validate_single_line,
)
from mailings.models import Client
from mailings.spreadsheets import unescape_formula

EMAIL_MAX_LENGTH = Client._meta.get_field("email").max_length
FULL_NAME_MAX_LENGTH = Client._meta.get_field("full_name").max_length


class FileEmailValidator(EmailValidator):
    """Django's e-mail validator, same rules, cheaper over a file's many rows: its lazily
    compiled user-part pattern is resolved once (each access of the lazy object costs more
    than the match), and each domain is checked once (a file has few distinct domains).
    Profiled: this validation was a fifth of an import's time."""

    def __init__(self):
        super().__init__()
        self.user_regex = re.compile(EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags)
        self.domains = {}

    def validate_domain_part(self, domain_part):
        valid = self.domains.get(domain_part)
        if valid is None:
            if len(self.domains) > 10_000:
                self.domains.clear()
            valid = self.domains[domain_part] = super().validate_domain_part(domain_part)
        return valid


# A plain ASCII address: dot-atom letters, digits and ``_+-`` before the @, LDH labels and a
# letters-only top-level domain after it. Every string it matches is valid by Django's rule
# (FileEmailValidator) and normalises to itself in lower case (Client.normalize_email of an
# ASCII address), so for those two checks are skipped that cost a fifth of an import; any
# other string takes the full path. No re.IGNORECASE: with it [a-z] also matches "ſ" and
# the Kelvin sign. mailings/tests/test_import_fast_path.py compares both paths.
PLAIN_ADDRESS = re.compile(
    r"[a-zA-Z0-9_+-]+(?:\.[a-zA-Z0-9_+-]+)*@(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}"
)


def plain_address(text):
    """``text`` normalised if it is a plain ASCII address (see PLAIN_ADDRESS), else None."""
    if text and len(text) <= EMAIL_MAX_LENGTH and PLAIN_ADDRESS.fullmatch(text):
        return text.lower()
    return None


def checked_address(line, text, report, validate_email):
    """``text`` normalised and validated by the one rule (Client.normalize_email, Django's
    validator), or None after reporting why not."""
    email = Client.normalize_email(text)
    if not email:
        report.add_error(line, _("The e-mail address is empty."))
        return None
    if len(email) > EMAIL_MAX_LENGTH:
        report.add_error(line, _("The e-mail address is longer than %(max)d characters.") % {"max": EMAIL_MAX_LENGTH})
        return None
    try:
        validate_email(email)
    except ValidationError:
        report.add_error(line, _("“%(email)s” is not a valid e-mail address.") % {"email": email[:100]})
        return None
    return email


class _Unreported:
    """A report that keeps nothing, for callers that only count refused addresses."""

    def add_error(self, line, message):
        pass


def address_or_none(text, validate_email):
    """``text`` by the import's one address rule, normalised, or None when it would be refused."""
    return plain_address(text) or checked_address(0, text, _Unreported(), validate_email)


def valid_row(line, values, report, validate_email):
    """The row as a (line, email, full_name, comment) tuple, or None after reporting why not.

    An address met earlier in the file is found when the batch is written (writing.py).
    """
    text = values.get("email")
    email = plain_address(text) or checked_address(line, text, report, validate_email)
    if email is None:
        return None
    full_name = values.get("full_name")
    comment = values.get("comment")
    if full_name is not None:
        full_name = unescape_formula(full_name.strip())
        if len(full_name) > FULL_NAME_MAX_LENGTH:
            report.add_error(line, _("The name is longer than %(max)d characters.") % {"max": FULL_NAME_MAX_LENGTH})
            return None
        # One C-level search first: the validator's loop runs only when there is something to find.
        if CONTROL_CHARACTERS.search(full_name) and _refused_by(validate_single_line, line, "full_name", full_name, report):
            return None
    if comment is not None:
        comment = unescape_formula(comment.strip())
        if CONTROL_CHARACTERS.search(comment) and _refused_by(validate_multiline, line, "comment", comment, report):
            return None
    return line, email, full_name, comment


def _refused_by(validator, line, column, text, report):
    """Report the row if the column's text breaks the forms' rule (the model field's validator)."""
    try:
        validator(text)
    except ValidationError as error:
        report.add_error(line, _("Column %(column)s: %(reason)s") % {"column": column, "reason": " ".join(error.messages)})
        return True
    return False
