"""How many people a mailing would reach, live on its form, saved or not (issue #11).

``/admin/mailings/mailing/reach/?lists=…&clients=…&all_clients=1&owner=…`` answers
``{"count": N, "text": "Would reach now: …"}`` for the chosen lists, clients or all clients, counted by
``audience.reach_count_of_choice`` with the one rule of who is skipped. The owner is the
one whose choices the form may offer (``permissions.mailing_choices_owner``): another
owner's lists and clients count nobody. ``backoffice/mailing-reach.js`` asks it whenever
the choice changes.
"""
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from backoffice import permissions
from mailings import audience
from mailings.admin.base import OWNER_PARAMETER


def reach_text(count):
    return ngettext(
        "%(count)d person (unsubscribed and suppressed addresses not counted)",
        "%(count)d people (unsubscribed and suppressed addresses not counted)", count,
    ) % {"count": count}


def ids(values):
    """The whole numbers of a query parameter's values; anything else is ignored."""
    return sorted({int(value) for value in values if value.isdigit()})


class MailingReachAdminMixin:
    class Media:
        js = ["backoffice/mailing-reach.js"]

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("reach/", self.admin_site.admin_view(self.reach_view), name="%s_%s_reach" % info),
        ] + super().get_urls()

    def reach_view(self, request):
        owner_id = permissions.mailing_choices_owner(request.user, request.GET.get(OWNER_PARAMETER))
        if owner_id is None:
            raise PermissionDenied
        count = audience.reach_count_of_choice(
            owner_id,
            list_ids=ids(request.GET.getlist("lists")),
            client_ids=ids(request.GET.getlist("clients")),
            all_clients=request.GET.get("all_clients") == "1",
        )
        return JsonResponse({"count": count, "text": _("Would reach now: %(reach)s") % {"reach": reach_text(count)}})
