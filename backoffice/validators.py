"""Control characters in people's input: one rule for every place text enters or leaves.

A name or a subject ends up in a mail header, where a line break starts a new header
(``Bcc:``) or ends the header block. So single-line texts (names, subjects) refuse every
control character; multi-line texts (comments) accept tab and line breaks but refuse the
other control characters, NUL first (PostgreSQL cannot store it).

Control characters are Unicode's category Cc (C0, DEL, C1) plus the line and paragraph
separators, which mail and text libraries also treat as line breaks.
"""
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Category Cc is exactly C0 (U+0000-U+001F), DEL (U+007F) and C1 (U+0080-U+009F).
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
MULTILINE_ALLOWED = "\t\n\r"


def first_control_character(text, *, allowed=""):
    """The first control character of ``text`` not in ``allowed``, or None."""
    for match in CONTROL_CHARACTERS.finditer(text or ""):
        for char in match.group():
            if char not in allowed:
                return char
    return None


def _refuse(char):
    raise ValidationError(
        _("Remove the control character %(code)s (a line break, tab or invisible character)."),
        code="control_character",
        params={"code": f"U+{ord(char):04X}"},
    )


def validate_single_line(value):
    """Validator of texts that may end up in a header: names, subjects."""
    char = first_control_character(value)
    if char is not None:
        _refuse(char)


def validate_multiline(value):
    """Validator of free texts (comments): line breaks and tabs are fine, NUL and the rest are not."""
    char = first_control_character(value, allowed=MULTILINE_ALLOWED)
    if char is not None:
        _refuse(char)


def header_safe(text):
    """``text`` with each run of control characters replaced by one space.

    The message builder's guard for values stored before validation existed, or written
    around it (shell, raw SQL): nothing stored can add a header or end the header block.
    """
    return CONTROL_CHARACTERS.sub(" ", text)
