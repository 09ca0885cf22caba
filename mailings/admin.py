"""Owner-scoped admin for clients, messages, mailings and their statistics.

Every queryset goes through ``permissions.scope_to_user`` and every write through
``permissions.can_edit_owned``, so another user's object answers 404 and a manager's POST
is refused on the server whatever the form shows.
"""
from django.contrib import admin
from unfold.admin import ModelAdmin

from backoffice import permissions
from mailings.admin_reports import MailingReportsAdminMixin
from mailings.admin_sending import AttemptSendingAdminMixin, MailingSendingAdminMixin
from mailings.models import Attempt, Client, Delivery, Mailing, Message


class OwnedAdmin(ModelAdmin):
    exclude = ["owner"]

    def get_queryset(self, request):
        return permissions.scope_to_user(super().get_queryset(request), request.user)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and permissions.can_edit_owned(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and permissions.can_edit_owned(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and permissions.can_edit_owned(request.user, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = request.user
        super().save_model(request, obj, form, change)


@admin.register(Client)
class ClientAdmin(OwnedAdmin):
    list_display = ["email", "full_name", "unsubscribed_at"]
    search_fields = ["email", "full_name"]


@admin.register(Message)
class MessageAdmin(OwnedAdmin):
    list_display = ["subject", "created_at"]
    search_fields = ["subject"]


@admin.register(Mailing)
class MailingAdmin(MailingSendingAdminMixin, MailingReportsAdminMixin, OwnedAdmin):
    list_display = ["__str__", "status", "periodicity", "start_at", "next_run_at", "is_enabled"]
    exclude = ["owner", "disabled_at", "disabled_by", "paused_until", "pause_reason", "next_run_at", "status"]


class ReadOnlyAdmin(ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Attempt)
class AttemptAdmin(AttemptSendingAdminMixin, ReadOnlyAdmin):
    list_display = ["mailing", "started_at", "finished_at", "status", "sent", "failed"]

    def get_queryset(self, request):
        return permissions.scope_to_user(super().get_queryset(request), request.user, "mailing__owner")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["email", "status", "smtp_code", "sent_at"]

    def get_queryset(self, request):
        return permissions.scope_to_user(
            super().get_queryset(request), request.user, "attempt__mailing__owner"
        )
