"""How statistics read on the pages (dashboard, reports, a run's page)."""
from django.utils import formats
from django.utils.translation import ngettext


def rate_text(rate):
    """A success rate as "97,5 %" in the current language, or a dash when nothing was decided."""
    return "—" if rate is None else f"{formats.number_format(rate, 1)} %"


def count_text(count):
    return formats.number_format(count, force_grouping=True)


def returns_text(kind, count, sent):
    """"3 bounces of 250 sent" (``kind`` "bounced") or "1 complaint of 250 sent" ("complained"),
    each number with the plural form it needs in the current language."""
    if kind == "bounced":
        returned = ngettext("%(count)s bounce", "%(count)s bounces", count)
    else:
        returned = ngettext("%(count)s complaint", "%(count)s complaints", count)
    # Russian puts "of N sent" in the genitive: "из 21 отправленного", "из 5 отправленных".
    of_sent = ngettext("%(returned)s of %(count)s sent", "%(returned)s of %(count)s sent", sent)
    return of_sent % {"returned": returned % {"count": count_text(count)}, "count": count_text(sent)}
