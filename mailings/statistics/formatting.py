"""How statistics read on the pages (dashboard, reports)."""
from django.utils import formats


def rate_text(rate):
    """A success rate as "97,5 %" in the current language, or a dash when nothing was decided."""
    return "—" if rate is None else f"{formats.number_format(rate, 1)} %"
