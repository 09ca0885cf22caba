from collections.abc import Callable
from typing import NamedTuple

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from backoffice import permissions
from backoffice.accounts import service as accounts_service
from backoffice.accounts.forms import AdminLoginForm
from backoffice.models import User
from backoffice.roles import role_label
from lib.admin import confirm_action


# A blocked or unverified user whose password is right is told why they cannot log in.
admin.site.login_form = AdminLoginForm
# The start page is the statistics dashboard, not Django's "Site administration".
admin.site.index_title = _("Overview")
admin.site.unregister(Group)


class AccountChange(NamedTuple):
    """Block or unblock: the service function that does it, and its line in the admin log."""

    apply: Callable
    log_message: str


BLOCK = AccountChange(accounts_service.block_user, _("Blocked the user."))
UNBLOCK = AccountChange(accounts_service.unblock_user, _("Unblocked the user."))


class RoleFilter(admin.RelatedFieldListFilter):
    """The user list's group filter, with the role names translated."""

    def field_choices(self, field, request, model_admin):
        return [(pk, role_label(name)) for pk, name in super().field_choices(field, request, model_admin)]


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin, ModelAdmin):
    list_display = ["role_name"]

    @display(description=_("name"), ordering="name")
    def role_name(self, group):
        return role_label(group.name)


class BackofficeUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class BackofficeUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin, ModelAdmin):
    form = BackofficeUserChangeForm
    add_form = BackofficeUserCreationForm
    change_password_form = AdminPasswordChangeForm
    ordering = ["email"]
    list_display = ["email", "full_name", "state", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser", ("groups", RoleFilter)]
    search_fields = ["email", "full_name"]
    readonly_fields = ["email_verified_at", "blocked_at", "blocked_by", "last_login", "date_joined"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name",)}),
        (
            _("Access"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("History"), {"fields": ("email_verified_at", "blocked_at", "blocked_by", "last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),)
    actions = ["block_users", "unblock_users"]
    actions_detail = ["block_user_detail", "unblock_user_detail"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "groups":
            field.label_from_instance = lambda group: role_label(group.name)
        return field

    @display(description=_("state"), label={_("blocked"): "danger", _("active"): "success", _("not verified"): "warning"})
    def state(self, user):
        if not user.is_active:
            return _("blocked")
        if not user.email_verified_at:
            return _("not verified")
        return _("active")

    def has_block_user_permission(self, request):
        return request.user.has_perm("backoffice.block_user")

    @action(description=_("Block selected users"), permissions=["block_user"])
    def block_users(self, request, queryset):
        self._apply(request, queryset, BLOCK, _("Blocked: %(count)d."))

    @action(description=_("Unblock selected users"), permissions=["block_user"])
    def unblock_users(self, request, queryset):
        self._apply(request, queryset, UNBLOCK, _("Unblocked: %(count)d."))

    # The same, from a user's page: a GET asks, a POST does it.
    def has_block_one_permission(self, request, object_id=None):
        target = self.get_object(request, object_id) if object_id else None
        return target is not None and target.is_active and permissions.can_block(request.user, target)

    def has_unblock_one_permission(self, request, object_id=None):
        target = self.get_object(request, object_id) if object_id else None
        return target is not None and not target.is_active and permissions.can_block(request.user, target)

    @action(description=_("Block"), permissions=["block_one"], icon="block")
    def block_user_detail(self, request, object_id):
        question = _("Block %(user)s? They cannot log in until unblocked, and their mailings stop.")
        return self._apply_one(request, object_id, BLOCK, question, _("Block"))

    @action(description=_("Unblock"), permissions=["unblock_one"], icon="lock_open")
    def unblock_user_detail(self, request, object_id):
        return self._apply_one(request, object_id, UNBLOCK, _("Unblock %(user)s?"), _("Unblock"))

    def _apply_one(self, request, object_id, change, question, button):
        """GET asks for confirmation; POST (with its CSRF token) does it."""
        user = self.get_object(request, object_id)
        change_url = reverse("admin:backoffice_user_change", args=[user.pk])
        if request.method != "POST":
            return confirm_action(self, request, question % {"user": user}, button, change_url)
        self._apply(request, User.objects.filter(pk=user.pk), change, _("Done: %(count)d."))
        return HttpResponseRedirect(change_url)

    def _apply(self, request, queryset, change, done_message):
        """Apply ``change`` (BLOCK or UNBLOCK) to each user allowed; each one recorded in the admin log."""
        changed, refused = 0, []
        for user in queryset:
            if not permissions.can_block(request.user, user):
                refused.append(user.email)
                continue
            if change.apply(user=user, actor=request.user):
                self.log_change(request, user, str(change.log_message))
                changed += 1
        self.message_user(request, done_message % {"count": changed}, messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                _("Not allowed for: %(emails)s (superusers and yourself cannot be blocked).")
                % {"emails": ", ".join(refused)},
                messages.WARNING,
            )
