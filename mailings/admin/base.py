"""What every mailings admin shares: owner scoping, read-only statistics, owner autocompletes.

Every queryset goes through ``OwnedQuerySet.visible_to`` (``permissions.scope_to_user``) and
every write through ``permissions.can_edit_owned``, so another user's object answers 404 (it
is simply not in the queryset) and a manager's add/change/delete POST answers 403 whatever
the form shows. Detail actions ask with ``lib.admin.confirm_action``, the one confirmation
page of the whole admin (the people app uses it too, hence it lives in lib).
"""
import json
from urllib.parse import urlencode

from django.contrib.admin.utils import unquote
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.templatetags import unfold_list

from backoffice import permissions
from mailings.models import Mailing


class NotFoundInsteadOfRedirect:
    """An object outside the user's queryset answers 404, not Django's redirect to the index."""

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404(_("No such object, or it is not yours."))


OWNER_PARAMETER = "owner"  # the mailing owner a mailing form's autocomplete asks for


def _is_mailing_autocomplete(request):
    """The admin's autocomplete view, asked for choices of a mailing's field."""
    match = request.resolver_match
    return (
        match is not None and match.url_name == "autocomplete"
        and request.GET.get("app_label") == Mailing._meta.app_label
        and request.GET.get("model_name") == Mailing._meta.model_name
    )


class OwnerAutocompleteMixin:
    """An autocomplete widget that asks for the choices of one owner (``owner_id``)."""

    owner_id = None

    def get_url(self):
        url = super().get_url()
        return f"{url}?{urlencode({OWNER_PARAMETER: self.owner_id})}" if self.owner_id else url


class OwnerAutocompleteSelect(OwnerAutocompleteMixin, AutocompleteSelect):
    pass


class OwnerAutocompleteSelectMultiple(OwnerAutocompleteMixin, AutocompleteSelectMultiple):
    pass


class Approximate(int):
    """A count that is the planner's estimate: it reads "≈ 99000" wherever it is printed
    (page footer, "N results", "Select all N", "All N selected"), while the plural forms and
    the page arithmetic use the number."""

    def __str__(self):
        return f"≈ {int(self)}"


def _rounded(number, digits=2):
    """An estimate shown with as many figures as it deserves: 1,013,498 → 1,000,000."""
    return int(round(number, digits - len(str(number)))) if number >= 10 ** digits else number


class EstimatedCountPaginator(Paginator):
    """A changelist paginator whose pages cost the same at 1,000 rows and at 1,000,000.

    The count: up to EXACT_UP_TO rows are counted exactly (a COUNT over a LIMITed subquery,
    cheap); above that PostgreSQL's planner estimate of the filtered query is used, shown
    as approximate (``Approximate``), so the cost of a page does not grow with the rows.

    The pages: a page in the second half is read backwards — the changelist's ordering
    reversed, with an OFFSET counted from the end, the rows then put back in order — so the
    last pages, the ones unfold's paginator links to from every page, cost what the first
    ones cost instead of an OFFSET through a million rows. The ordering is total (the
    changelist adds ``-pk``), so reversed it gives the very same rows. With an exact count
    every page is exactly the page a plain OFFSET gives; with an estimate the pages of the
    second half are counted from the true end. Only pages in the middle, which no link
    reaches but by stepping page by page from an end, still pay a long OFFSET.
    """

    EXACT_UP_TO = 10_000
    template_name = None  # unfold asks for a paginator's own footer template: none, the usual one

    @cached_property
    def count(self):
        rows = self.object_list.order_by()
        if connections[rows.db].vendor != "postgresql" or rows.query.is_empty():
            # SQLite: a development database, counted as Django does; an empty queryset
            # (``none()``) has no SQL to explain.
            return rows.count()
        # Always the same two queries (a bounded count and the planner's estimate), so the
        # page costs as many queries whatever the number of rows.
        estimate = _planner_estimate(rows)
        counted = rows[: self.EXACT_UP_TO + 1].count()
        if counted <= self.EXACT_UP_TO:
            return counted
        return Approximate(max(self.EXACT_UP_TO + 1, _rounded(estimate)))

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if self.count - top < bottom:
            return self._get_page(self._read_backwards(self.count - top, top - bottom), number, self)
        return self._get_page(self.object_list[bottom:top], number, self)

    def _read_backwards(self, skip, rows):
        """The ``rows`` rows that come ``skip`` rows before the end, in the list's order."""
        if not self.object_list.ordered:
            return self.object_list[self.count - skip - rows:self.count - skip]
        return list(reversed(self.object_list.reverse()[skip:skip + rows]))


def _planner_estimate(queryset):
    sql, params = queryset.values("pk").query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _headers_once_per_page(result_headers):
    """unfold's ``items_for_result`` builds every column header again for each row (for the
    cells' ``data-label``), rendering the "select all" checkbox each time: a fifth of a
    50-row changelist's time. The headers depend only on the changelist, so each page now
    builds them once."""

    def headers(cl):
        if "_unfold_headers" not in cl.__dict__:
            cl.__dict__["_unfold_headers"] = list(result_headers(cl))
        return iter(cl.__dict__["_unfold_headers"])

    headers.built_once = True
    return headers


if not getattr(unfold_list.result_headers, "built_once", False):
    unfold_list.result_headers = _headers_once_per_page(unfold_list.result_headers)


class OwnedAdmin(NotFoundInsteadOfRedirect, ModelAdmin):
    exclude = ["owner"]
    show_full_result_count = False
    list_per_page = 50
    # unfold's row template asks for it twice per row; a missing attribute costs a dir() of
    # the whole admin class each time (Django's template lookup), ~1 ms a row.
    list_sections = []

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and permissions.can_edit_owned(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and permissions.can_edit_owned(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and permissions.can_edit_owned(request.user, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # The form checks uniqueness and choices against the owner of the object.
        owner = obj.owner if obj is not None else request.user
        return type(form.__name__, (form,), {"owner": owner})

    def save_model(self, request, obj, form, change):
        if not change and not obj.owner_id:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if _is_mailing_autocomplete(request):
            # Offer only what the mailing form accepts: its owner's objects.
            owner_id = permissions.mailing_choices_owner(request.user, request.GET.get(OWNER_PARAMETER))
            queryset = queryset.filter(owner_id=owner_id) if owner_id else queryset.none()
        return queryset, may_have_duplicates

    def get_list_display(self, request):
        """Those who see everyone's objects also see whose they are."""
        columns = list(super().get_list_display(request))
        if permissions.sees_all_mailings(request.user) and "owner" not in columns:
            columns.insert(1, "owner")
        return columns

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if permissions.sees_all_mailings(request.user):
            filters.append("owner")
        return filters

    def get_list_select_related(self, request):
        return ["owner"] if permissions.sees_all_mailings(request.user) else []


class ReadOnlyAdmin(NotFoundInsteadOfRedirect, ModelAdmin):
    """Statistics (runs and deliveries): read-only for everyone."""

    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def visible_mailing(request, object_id):
    """The mailing ``object_id`` of an admin URL if this user may see it, else None.

    The one lookup of every mailing page, button, export and report (through
    ``OwnedQuerySet.visible_one``): someone else's mailing is simply not found.
    """
    return Mailing.objects.select_related("message", "owner").visible_one(request.user, unquote(str(object_id)))


def visible_mailing_or_404(request, object_id):
    mailing = visible_mailing(request, object_id)
    if mailing is None:
        raise Http404(_("No such mailing."))
    return mailing
