"""The mailing page's buttons: disable / enable, send now, send a test, retry, pause / resume, duplicate.

Every button is a GET that asks (``lib.admin.confirm_action``) and a POST that acts, on a
mailing looked up with ``visible_mailing`` (someone else's mailing answers 404). What a
press does is decided in ``mailings.services``; this module only asks and reports.
"""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from unfold.decorators import action

from backoffice import permissions
from lib.admin import confirm_action
from lib.dates import local_datetime
from mailings import audience, duplicates, services
from mailings.admin.attempts import AWAITING_PARAMETER
from mailings.admin.base import visible_mailing, visible_mailing_or_404
from mailings.models import Attempt, AttemptKind, AttemptStatus


def change_url(mailing):
    return reverse("admin:mailings_mailing_change", args=[mailing.pk])


class MailingSendingAdminMixin:
    # --- disable / enable: the owner, any manager, a superuser ----------------------

    def has_toggle_permission(self, request, object_id=None):
        if object_id is None:
            return self.has_view_permission(request) and request.user.is_active
        mailing = visible_mailing(request, object_id)
        return mailing is not None and permissions.can_toggle_mailing(request.user, mailing)

    def has_disable_permission(self, request, object_id=None):
        mailing = visible_mailing(request, object_id) if object_id else None
        return self.has_toggle_permission(request, object_id) and (mailing is None or mailing.is_enabled)

    def has_enable_permission(self, request, object_id=None):
        mailing = visible_mailing(request, object_id) if object_id else None
        return self.has_toggle_permission(request, object_id) and (mailing is None or not mailing.is_enabled)

    @action(description=gettext_lazy("Disable selected mailings"), permissions=["toggle"])
    def disable_mailings(self, request, queryset):
        self._toggle_all(request, queryset, enable=False)

    @action(description=gettext_lazy("Enable selected mailings"), permissions=["toggle"])
    def enable_mailings(self, request, queryset):
        self._toggle_all(request, queryset, enable=True)

    @action(description=gettext_lazy("Disable"), permissions=["disable"], icon="pause_circle")
    def disable_mailing_detail(self, request, object_id):
        return self._toggle_one(request, object_id, enable=False)

    @action(description=gettext_lazy("Enable"), permissions=["enable"], icon="play_circle")
    def enable_mailing_detail(self, request, object_id):
        return self._toggle_one(request, object_id, enable=True)

    def _toggle_all(self, request, queryset, enable):
        done = sum(self._toggle(request, mailing, enable) for mailing in queryset)
        message = _("Enabled: %(count)d.") if enable else _("Disabled: %(count)d.")
        self.message_user(request, message % {"count": done}, messages.SUCCESS)

    def _toggle_one(self, request, object_id, enable):
        """GET asks for confirmation; POST (with its CSRF token) does it."""
        mailing = visible_mailing_or_404(request, object_id)
        if request.method != "POST":
            question = (
                _("Enable the mailing “%(mailing)s”? It runs again from its next due time.")
                if enable
                else _("Disable the mailing “%(mailing)s”? A run in progress stops at its next batch.")
            )
            button = _("Enable") if enable else _("Disable")
            return confirm_action(self, request, question % {"mailing": mailing}, button, change_url(mailing))
        if self._toggle(request, mailing, enable):
            self.message_user(request, _("The mailing is enabled.") if enable else _("The mailing is disabled."))
        return HttpResponseRedirect(change_url(mailing))

    def _toggle(self, request, mailing, enable):
        """Apply one change if allowed and needed; recorded in the admin log. True if done."""
        if not permissions.can_toggle_mailing(request.user, mailing) or mailing.is_enabled == enable:
            return False
        if enable:
            services.enable_mailing(mailing=mailing)
            self.log_change(request, mailing, _("Enabled the mailing."))
        else:
            services.disable_mailing(mailing=mailing, actor=request.user)
            self.log_change(request, mailing, _("Disabled the mailing."))
        return True

    # --- sending: the owner and superusers (permissions.can_edit_owned) --------------

    def has_send_mailing_permission(self, request, object_id=None):
        if object_id is None:
            return permissions.can_edit_owned(request.user)
        mailing = visible_mailing(request, object_id)
        return mailing is not None and permissions.can_edit_owned(request.user, mailing)

    def _editable_mailing(self, request, object_id):
        mailing = visible_mailing_or_404(request, object_id)
        if not permissions.can_edit_owned(request.user, mailing):
            raise PermissionDenied
        return mailing

    def _run_button(self, request, object_id, button, question, current_run, press):
        """A button that starts one run: the page names it, the POST starts exactly that one.

        ``question`` is formatted with the run's description; ``current_run(mailing)`` is the
        run the button starts now (None: nothing to start); ``press(mailing=, run=)`` acts.
        """
        mailing = self._editable_mailing(request, object_id)
        if request.method != "POST":
            run = current_run(mailing)
            if run is None:
                report_press(request, mailing, services.PressResult(services.Press.NOTHING))
                return redirect(change_url(mailing))
            question = question % {"run": describe_run(mailing, run)}
            return confirm_action(
                self, request, question, button, change_url(mailing), subject=mailing, hidden={"run": run.token}
            )
        run = services.run_from_token(mailing, request.POST.get("run"))
        if run is None:
            messages.error(request, _("The confirmation did not name a run of this mailing; nothing was started. "
                                      "Please confirm again."))
            return redirect(request.path)
        shown = services.newest_run(mailing.pk)  # read before the press: the page waits for a newer one
        result = press(mailing=mailing, run=run)
        report_press(request, mailing, result)
        if result.outcome == services.Press.QUEUED:
            return redirect(f"{change_url(mailing)}?{AWAITING_PARAMETER}={shown.pk if shown else 0}")
        return redirect(change_url(mailing))

    @action(description=gettext_lazy("Send now"), url_path="send-now", icon="send", permissions=["send_mailing"])
    def send_now_action(self, request, object_id):
        return self._run_button(
            request, object_id, _("Send now"), _("Start %(run)s now?"),
            services.send_now_run, services.send_now,
        )

    @action(description=gettext_lazy("Send a test to me"), url_path="send-test", icon="outgoing_mail",
            permissions=["send_mailing"])
    def send_test_action(self, request, object_id):
        mailing = self._editable_mailing(request, object_id)
        email = request.user.email
        if request.method != "POST":
            question = _("Send this mailing's message to %(email)s only?") % {"email": email}
            return confirm_action(
                self, request, question, _("Send a test to me"), change_url(mailing), subject=mailing
            )
        services.send_test(mailing=mailing, email=email)
        messages.success(request, _("A test message is on its way to %(email)s.") % {"email": email})
        return redirect(change_url(mailing))

    @action(description=gettext_lazy("Retry failed recipients"), url_path="retry-failed", icon="replay",
            permissions=["send_mailing"])
    def retry_failed_action(self, request, object_id):
        return self._run_button(
            request, object_id, _("Retry failed recipients"), _("Start %(run)s?"),
            services.retry_run, services.retry_failed,
        )

    # --- pause / resume: the owner and superusers; "for now", unlike disabling ----------

    def has_pause_permission(self, request, object_id=None):
        mailing = visible_mailing(request, object_id) if object_id else None
        return self.has_send_mailing_permission(request, object_id) and (
            mailing is None or (mailing.is_enabled and not mailing.paused_at))

    def has_resume_permission(self, request, object_id=None):
        mailing = visible_mailing(request, object_id) if object_id else None
        return self.has_send_mailing_permission(request, object_id) and (mailing is None or bool(mailing.paused_at))

    @action(description=gettext_lazy("Pause"), url_path="pause", icon="pause", permissions=["pause"])
    def pause_mailing_detail(self, request, object_id):
        mailing = self._editable_mailing(request, object_id)
        if request.method != "POST":
            question = _("Pause the mailing “%(mailing)s”? A run in progress stops at its next batch and "
                         "continues where it stopped when you resume it.") % {"mailing": mailing}
            return confirm_action(self, request, question, _("Pause"), change_url(mailing))
        if not mailing.paused_at:
            services.pause_mailing(mailing=mailing, actor=request.user)
            self.log_change(request, mailing, _("Paused the mailing."))
        self.message_user(request, _("The mailing is paused."))
        return redirect(change_url(mailing))

    @action(description=gettext_lazy("Resume"), url_path="resume", icon="play_arrow", permissions=["resume"])
    def resume_mailing_detail(self, request, object_id):
        mailing = self._editable_mailing(request, object_id)
        if request.method != "POST":
            question = _("Resume the mailing “%(mailing)s”? A stopped run continues where it stopped.") % {
                "mailing": mailing}
            return confirm_action(self, request, question, _("Resume"), change_url(mailing))
        if mailing.paused_at:
            services.resume_mailing(mailing=mailing)
            self.log_change(request, mailing, _("Resumed the mailing."))
        self.message_user(request, _("The mailing is resumed."))
        return redirect(change_url(mailing))

    # --- duplicate: the owner and superusers -----------------------------------------

    @action(description=gettext_lazy("Duplicate"), url_path="duplicate", icon="content_copy",
            permissions=["send_mailing"])
    def duplicate_mailing_detail(self, request, object_id):
        """GET asks; POST creates a disabled copy (mailings.duplicates) and opens it."""
        mailing = self._editable_mailing(request, object_id)
        if request.method != "POST":
            question = _("Create a copy of the mailing “%(mailing)s”? The copy is disabled: it sends nothing "
                         "until you check it and enable it.") % {"mailing": mailing}
            return confirm_action(self, request, question, _("Duplicate"), change_url(mailing))
        copy = duplicates.duplicate_mailing(mailing=mailing, actor=request.user)
        self.log_addition(request, copy, _("Copied from mailing #%(pk)d.") % {"pk": mailing.pk})
        messages.success(request, _(
            "This is a copy of mailing #%(pk)d. It is disabled: check its schedule, then enable it."
        ) % {"pk": mailing.pk})
        return redirect(change_url(copy))


def describe_run(mailing, run):
    """The run a button starts, in words, for its confirmation page and its outcome message."""
    if run.kind == AttemptKind.SCHEDULED:
        return _("the run due %(when)s") % {"when": local_datetime(run.scheduled_for)}
    if run.kind == AttemptKind.MANUAL:
        count = audience.reach_count(mailing)
        return ngettext(
            "an extra run to the mailing's %(count)d client", "an extra run to all %(count)d clients of the mailing",
            count,
        ) % {"count": count}
    retried = Attempt.objects.get(pk=run.follows)
    count = retried.deliveries.filter(status__in=services.RETRIED_STATUSES).count()
    return ngettext(
        "a retry of the %(count)d recipient the run of %(when)s could not reach",
        "a retry of the %(count)d recipients the run of %(when)s could not reach",
        count,
    ) % {"count": count, "when": local_datetime(retried.started_at)}


def report_press(request, mailing, result):
    """Tell the person what their press did; a second press says the run is already going."""
    if result.outcome == services.Press.NOTHING:
        messages.warning(request, _("There is no finished run with failed recipients to retry."))
        return
    words = {"run": describe_run(mailing, result.run)}
    if result.outcome == services.Press.QUEUED:
        messages.success(request, _("Started: %(run)s. Progress appears below.") % words)
    elif result.outcome == services.Press.ALREADY and (
        result.attempt is None or result.attempt.status in (AttemptStatus.RUNNING, AttemptStatus.PAUSED)
    ):
        messages.info(request, _("Nothing new was started: %(run)s is already going.") % words)
    elif result.outcome == services.Press.ALREADY:
        messages.info(request, _("Nothing new was started: %(run)s has already been done.") % words)
    elif result.outcome == services.Press.STALE:
        messages.warning(request, _(
            "Nothing was started: the page you confirmed offered %(run)s, which is no longer what this "
            "button starts (the mailing has changed since). Look at the mailing again."
        ) % words)
    else:
        messages.warning(request, _("Nothing to send: the mailing is disabled or its owner is blocked."))
