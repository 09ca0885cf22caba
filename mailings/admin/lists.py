"""Client lists: owner-scoped like clients (read-only for managers), with member counts, the
public subscription form's address and an embeddable snippet, and a streamed CSV export."""
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Count
from django.http import Http404, StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.decorators import action, display

from mailings import lists
from mailings.admin.base import OwnedAdmin
from mailings.forms import ClientListForm
from mailings.models import ClientList, Subscription
from mailings.subscriptions import form_url


def mailing_form_url(client_list):
    """The new mailing's form with this list chosen and named after it."""
    return f"{reverse('admin:mailings_mailing_add')}?{urlencode({'lists': client_list.pk, 'name': client_list.name})}"


@admin.register(ClientList)
class ClientListAdmin(OwnedAdmin):
    form = ClientListForm
    list_display = ["name", "member_count", "subscription_enabled", "created_at"]
    search_fields = ["name"]
    list_filter = ["subscription_enabled"]
    fields = [
        "name", "description", "subscription_enabled", "subscription_display", "fill_display", "created_at",
        "updated_at",
    ]
    readonly_fields = ["subscription_display", "fill_display", "created_at", "updated_at"]
    actions_detail = ["export_members"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("clients"))

    @display(description=_("members"), ordering="member_count")
    def member_count(self, client_list):
        return client_list.member_count

    @display(description=_("public form"))
    def subscription_display(self, client_list):
        if not client_list.pk:
            return "—"
        url = form_url(client_list)
        members = reverse("admin:mailings_client_changelist") + f"?list={client_list.pk}"
        confirmed = Subscription.objects.filter(client_list=client_list, confirmed_at__isnull=False).count()
        return render_to_string("mailings/admin/list_form.html", {
            "url": url, "enabled": client_list.subscription_enabled, "members": members,
            "confirmed": confirmed, "snippet": render_to_string("mailings/subscribe_snippet.html", {"url": url}),
        })

    @display(description=_("adding clients in the background"))
    def fill_display(self, client_list):
        """Where the last large "add to list" stands (it runs in the worker: lists.fill_list)."""
        progress = lists.fill_progress(client_list) if client_list.pk else None
        if progress is None:
            return "—"
        if progress["state"] == "queued":
            return _("Waiting for the worker to start.")
        if progress["state"] == "stopped":
            return _("Stopped at %(percent)d%%: the worker stopped. Add the clients to the list again to finish; "
                     "those already added stay.") % progress
        if progress["state"] == "running":
            return ngettext(
                "%(percent)d%% done, %(added)d client added so far.",
                "%(percent)d%% done, %(added)d clients added so far.", progress["added"],
            ) % progress
        done = ngettext("Done: %(added)d client added.", "Done: %(added)d clients added.", progress["added"]) % progress
        # The end of "create a mailing for the selection" on a large one: the list is complete.
        return format_html('{} <a href="{}" class="text-primary-600 dark:text-primary-500">{}</a>',
                           done, mailing_form_url(client_list), _("Create a mailing for this list"))

    @action(description=_("Export members (CSV)"), url_path="export", icon="download")
    def export_members(self, request, object_id):
        client_list = ClientList.objects.visible_one(request.user, object_id)
        if client_list is None:
            raise Http404(_("No such object, or it is not yours."))
        response = StreamingHttpResponse(lists.export_rows(client_list), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="list-{client_list.pk}.csv"'
        return response
