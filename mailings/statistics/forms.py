"""The filter form of a mailing's report: a period and a run status, as GET parameters."""
from datetime import date

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from unfold.widgets import DATETIME_CLASSES, UnfoldAdminSelectWidget

from mailings.models import AttemptStatus
from mailings.statistics import reports


def date_input():
    """The browser's own date picker; it submits ISO dates, which every locale accepts."""
    return forms.DateInput(
        format="%Y-%m-%d", attrs={"type": "date", "class": " ".join(DATETIME_CLASSES)}
    )


# Far enough for any real report, near enough that a day later or a time zone away still
# is a valid datetime (9999-12-31 + 1 day is not).
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


def period_field(label):
    return forms.DateField(
        label=label, required=False, widget=date_input(),
        validators=[MinValueValidator(EARLIEST), MaxValueValidator(LATEST)],
    )


class ReportFilterForm(forms.Form):
    start = period_field(pgettext_lazy("period start", "From"))
    end = period_field(pgettext_lazy("period end", "To"))
    status = forms.ChoiceField(
        label=gettext_lazy("Run status"),
        required=False,
        choices=[("", gettext_lazy("any"))] + list(AttemptStatus.choices),
        widget=UnfoldAdminSelectWidget,
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            self.add_error("end", _("The end of the period must not be before its start."))
        return cleaned

    def report_filter(self):
        """The filter made of the valid fields only: bad input narrows nothing, never fails."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return reports.ReportFilter(
            start=data.get("start"), end=data.get("end"), status=data.get("status") or ""
        )
