"""What an import tells the person: a refusal of the whole file, or a report of its rows."""
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _

MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_REPORTED_ERRORS = 200


class ImportRefused(Exception):
    """The file as a whole cannot be imported; nothing was written."""


@dataclass
class RowError:
    line: int
    message: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)
    error_count: int = 0
    rolled_back: bool = False
    encoding: str | None = None  # the text encoding a CSV was read in, as people name it

    @property
    def rows(self):
        return self.created + self.updated + self.unchanged + self.error_count

    @property
    def errors_not_listed(self):
        return self.error_count - len(self.errors)

    def add_error(self, line, message):
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, message))

    def add_sorted_errors(self, count, first):
        """Add ``count`` errors found after the rows were read, of which ``first`` holds the
        first MAX_REPORTED_ERRORS as (line, message) in line order: the listed errors stay
        the first ones of the file, in line order."""
        self.error_count += count
        merged = sorted(self.errors + [RowError(line, message) for line, message in first], key=lambda e: e.line)
        self.errors = merged[:MAX_REPORTED_ERRORS]


def max_import_bytes():
    return getattr(settings, "CLIENT_IMPORT_MAX_BYTES", MAX_IMPORT_BYTES)


def check_size(size):
    """Refuse a file above the limit before reading any of it."""
    if size is not None and size > max_import_bytes():
        raise ImportRefused(too_big_message(size))


def too_big_message(size):
    return _("The file is %(size)d MB; the limit is %(limit)d MB. Split it into smaller files.") % {
        "size": size // (1024 * 1024), "limit": max_import_bytes() // (1024 * 1024),
    }
