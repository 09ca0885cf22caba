"""The suppression list: addresses never mailed (owner-scoped, read-only for managers), and
the import of a suppression file (e.g. a previous provider's unsubscribes and bounces)."""
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from mailings import audience, importing
from mailings.admin.base import OwnedAdmin
from mailings.forms import SuppressionImportForm, SuppressionForm
from mailings.models import Suppression


@admin.register(Suppression)
class SuppressionAdmin(OwnedAdmin):
    form = SuppressionForm
    list_display = ["email", "reason", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["email"]
    fields = ["email", "reason", "created_at"]
    readonly_fields = ["created_at"]
    change_list_template = "admin/mailings/suppression/change_list.html"

    def get_urls(self):
        custom = [path("import/", self.admin_site.admin_view(self.import_view), name="mailings_suppression_import")]
        return custom + super().get_urls()

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SuppressionImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                added, refused = audience.import_suppressions(
                    request.user, form.cleaned_data["import_file"], form.cleaned_data["reason"]
                )
            except importing.ImportRefused as refused_file:
                form.add_error("import_file", str(refused_file))
            else:
                messages.success(request, ngettext(
                    "%(count)d address added to the suppression list.",
                    "%(count)d addresses added to the suppression list.", added,
                ) % {"count": added})
                if refused:
                    messages.warning(request, ngettext(
                        "%(count)d row is not a valid address and was skipped.",
                        "%(count)d rows are not valid addresses and were skipped.", refused,
                    ) % {"count": refused})
                return redirect(reverse("admin:mailings_suppression_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import a suppression list"),
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return render(request, "admin/mailings/suppression/import.html", context)
