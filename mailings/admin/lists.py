"""Client lists: owner-scoped like clients (read-only for managers), with member counts, the
public subscription form's address and an embeddable snippet, and a streamed CSV export."""
from django.contrib import admin
from django.db.models import Count
from django.http import Http404, StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action, display

from mailings import lists
from mailings.admin.base import OwnedAdmin
from mailings.forms import ClientListForm
from mailings.models import ClientList, Subscription
from mailings.subscriptions import form_url


@admin.register(ClientList)
class ClientListAdmin(OwnedAdmin):
    form = ClientListForm
    list_display = ["name", "member_count", "subscription_enabled", "created_at"]
    search_fields = ["name"]
    list_filter = ["subscription_enabled"]
    fields = ["name", "description", "subscription_enabled", "subscription_display", "created_at", "updated_at"]
    readonly_fields = ["subscription_display", "created_at", "updated_at"]
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

    @action(description=_("Export members (CSV)"), url_path="export", icon="download")
    def export_members(self, request, object_id):
        client_list = ClientList.objects.visible_one(request.user, object_id)
        if client_list is None:
            raise Http404(_("No such object, or it is not yours."))
        response = StreamingHttpResponse(lists.export_rows(client_list), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="list-{client_list.pk}.csv"'
        return response
