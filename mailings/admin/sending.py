"""Sending-related admin features (send now, test, retry, progress), mixed into MailingAdmin.

Owned by the sending engine; ``mailings/admin/mailings.py`` only inherits from these mixins. Every
button is a GET that shows a confirmation and a POST that acts, on an object looked up
through the admin's owner-scoped queryset (someone else's mailing answers 404).
"""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from unfold.decorators import action, display

from backoffice import permissions
from mailings import scheduling
from mailings.models import Attempt, AttemptKind, AttemptStatus, DeliveryStatus

DELIVERIES_SHOWN = 100


def attempt_progress(attempt):
    """The figures the progress bar shows (also served as JSON for live updates)."""
    done = attempt.sent + attempt.failed + attempt.unknown
    return {
        "id": attempt.pk,
        "status": attempt.status,
        "status_display": attempt.get_status_display(),
        "sent": attempt.sent,
        "failed": attempt.failed,
        "unknown": attempt.unknown,
        "total": attempt.recipients,
        "done": done,
        "running": attempt.status == AttemptStatus.RUNNING,
    }


def progress_html(attempt, url):
    """A progress bar that polls ``url`` every two seconds while the run is going."""
    return render_to_string("mailings/admin/progress.html", {"p": attempt_progress(attempt), "url": url})


def _progress_url(attempt):
    return reverse("admin:mailings_attempt_progress", args=[attempt.pk])


class MailingSendingAdminMixin:
    """Actions and read-only displays of MailingAdmin that concern sending."""

    actions_detail = ["send_now_action", "send_test_action", "retry_failed_action"]
    sending_readonly_fields = ("next_run_display", "last_attempt_display", "progress_display")

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields + tuple(f for f in self.sending_readonly_fields if f not in fields) if obj else fields

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the clients are saved: the run may be due now and must see them all.
        scheduling.mailing_saved(mailing=form.instance)

    # --- displays -------------------------------------------------------------------

    @display(description=gettext_lazy("next run"))
    def next_run_display(self, obj):
        if not obj.is_enabled:
            return _("disabled")
        if obj.paused_until and obj.paused_until > timezone.now():
            return format_html("{}<br>{}", _("paused until %(when)s") % {
                "when": timezone.localtime(obj.paused_until).strftime("%Y-%m-%d %H:%M")}, obj.pause_reason)
        if obj.next_run_at is None:
            return _("none (completed)")
        return timezone.localtime(obj.next_run_at).strftime("%Y-%m-%d %H:%M")

    def _last_attempt(self, obj):
        return obj.attempts.exclude(kind=AttemptKind.TEST).order_by("-started_at", "-pk").first()

    @display(description=gettext_lazy("last attempt"))
    def last_attempt_display(self, obj):
        attempt = self._last_attempt(obj)
        if attempt is None:
            return _("none yet")
        when = timezone.localtime(attempt.finished_at or attempt.started_at).strftime("%Y-%m-%d %H:%M")
        counts = _("%(sent)d sent, %(failed)d failed") % {"sent": attempt.sent, "failed": attempt.failed}
        return format_html(
            '<a href="{}">{} · {}</a> · {}<br><span style="white-space:pre-line">{}</span>',
            reverse("admin:mailings_attempt_change", args=[attempt.pk]),
            when, attempt.get_status_display(), counts, attempt.server_response,
        )

    @display(description=gettext_lazy("progress"))
    def progress_display(self, obj):
        attempt = self._last_attempt(obj)
        if attempt is None:
            return "—"
        return progress_html(attempt, _progress_url(attempt))

    # --- actions --------------------------------------------------------------------

    def _scoped_mailing(self, request, object_id):
        """The mailing if this user may see it; None for someone else's or a malformed id."""
        if not str(object_id).isdigit():
            return None
        return self.get_queryset(request).filter(pk=object_id).first()

    def has_send_mailing_permission(self, request, object_id=None):
        if object_id is None:
            return permissions.can_edit_owned(request.user)
        mailing = self._scoped_mailing(request, object_id)
        return mailing is not None and permissions.can_edit_owned(request.user, mailing)

    def _editable_mailing(self, request, object_id):
        mailing = self._scoped_mailing(request, object_id)
        if mailing is None:
            raise Http404(_("No such mailing."))
        if not permissions.can_edit_owned(request.user, mailing):
            raise PermissionDenied
        return mailing

    def _confirmation_page(self, request, mailing, title, question, run=None):
        context = {
            **self.admin_site.each_context(request),
            "title": title, "question": question, "object": mailing, "opts": self.model._meta,
            "back_url": reverse("admin:mailings_mailing_change", args=[mailing.pk]),
            "run_token": run.token if run else "",
        }
        return TemplateResponse(request, "mailings/admin/confirm_action.html", context)

    def _confirmed(self, request, object_id, title, question):
        """(mailing, None) on a POST; (mailing, confirmation page) on a GET."""
        mailing = self._editable_mailing(request, object_id)
        if request.method == "POST":
            return mailing, None
        return mailing, self._confirmation_page(request, mailing, title, question)

    def _run_button(self, request, object_id, title, question, current_run, press):
        """A button that starts one run: the page names it, the POST starts exactly that one.

        ``question`` is formatted with the run's description; ``current_run(mailing)`` is the
        run the button starts now (None: nothing to start); ``press(mailing=, run=)`` acts.
        """
        mailing = self._editable_mailing(request, object_id)
        if request.method != "POST":
            run = current_run(mailing)
            if run is None:
                report_press(request, mailing, scheduling.PressResult(scheduling.Press.NOTHING))
                return self._back(mailing)
            question = question % {"run": describe_run(mailing, run)}
            return self._confirmation_page(request, mailing, title, question, run)
        run = scheduling.run_from_token(mailing, request.POST.get("run"))
        if run is None:
            messages.error(request, _("The confirmation did not name a run of this mailing; nothing was started. "
                                      "Please confirm again."))
            return redirect(request.path)
        report_press(request, mailing, press(mailing=mailing, run=run))
        return self._back(mailing)

    def _back(self, mailing):
        return redirect(reverse("admin:mailings_mailing_change", args=[mailing.pk]))

    @action(description=gettext_lazy("Send now"), url_path="send-now", icon="send", permissions=["send_mailing"])
    def send_now_action(self, request, object_id):
        return self._run_button(
            request, object_id, _("Send now"), _("Start %(run)s now?"),
            scheduling.send_now_run, scheduling.send_now,
        )

    @action(description=gettext_lazy("Send a test to me"), url_path="send-test", icon="outgoing_mail",
            permissions=["send_mailing"])
    def send_test_action(self, request, object_id):
        mailing, page = self._confirmed(
            request, object_id, _("Send a test to me"),
            _("Send this mailing's message to %(email)s only?") % {"email": request.user.email},
        )
        if page:
            return page
        scheduling.send_test(mailing=mailing, email=request.user.email, now=timezone.now())
        messages.success(request, _("A test message is on its way to %(email)s.") % {"email": request.user.email})
        return self._back(mailing)

    @action(description=gettext_lazy("Retry failed recipients"), url_path="retry-failed", icon="replay",
            permissions=["send_mailing"])
    def retry_failed_action(self, request, object_id):
        return self._run_button(
            request, object_id, _("Retry failed recipients"), _("Start %(run)s?"),
            scheduling.retry_run, scheduling.retry_failed,
        )


def _when(moment):
    return date_format(timezone.localtime(moment), "j E Y, H:i")


def describe_run(mailing, run):
    """The run a button starts, in words, for its confirmation page and its outcome message."""
    if run.kind == AttemptKind.SCHEDULED:
        return _("the run due %(when)s") % {"when": _when(run.scheduled_for)}
    if run.kind == AttemptKind.MANUAL:
        count = mailing.clients.count()
        return ngettext(
            "an extra run to the mailing's %(count)d client", "an extra run to all %(count)d clients of the mailing",
            count,
        ) % {"count": count}
    retried = Attempt.objects.get(pk=run.follows)
    count = retried.deliveries.filter(status__in=scheduling.RETRIED_STATUSES).count()
    return ngettext(
        "a retry of the %(count)d recipient the run of %(when)s could not reach",
        "a retry of the %(count)d recipients the run of %(when)s could not reach",
        count,
    ) % {"count": count, "when": _when(retried.started_at)}


def report_press(request, mailing, result):
    """Tell the person what their press did; a second press says the run is already going."""
    Press = scheduling.Press
    if result.outcome == Press.NOTHING:
        messages.warning(request, _("There is no finished run with failed recipients to retry."))
        return
    words = {"run": describe_run(mailing, result.run)}
    if result.outcome == Press.QUEUED:
        messages.success(request, _("Started: %(run)s. Progress appears below.") % words)
    elif result.outcome == Press.ALREADY and (
        result.attempt is None or result.attempt.status in (AttemptStatus.RUNNING, AttemptStatus.PAUSED)
    ):
        messages.info(request, _("Nothing new was started: %(run)s is already going.") % words)
    elif result.outcome == Press.ALREADY:
        messages.info(request, _("Nothing new was started: %(run)s has already been done.") % words)
    elif result.outcome == Press.STALE:
        messages.warning(request, _(
            "Nothing was started: the page you confirmed offered %(run)s, which is no longer what this "
            "button starts (the mailing has changed since). Look at the mailing again."
        ) % words)
    else:
        messages.warning(request, _("Nothing to send: the mailing is disabled or its owner is blocked."))


class AttemptSendingAdminMixin:
    """Live progress and delivery list of AttemptAdmin."""

    sending_readonly_fields = ("progress_display", "deliveries_display")

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields + tuple(f for f in self.sending_readonly_fields if f not in fields) if obj else fields

    def get_urls(self):
        custom = [
            path("<int:attempt_id>/progress/", self.admin_site.admin_view(self.progress_view),
                 name="mailings_attempt_progress"),
        ]
        return custom + super().get_urls()

    def progress_view(self, request, attempt_id):
        attempt = self.get_queryset(request).filter(pk=attempt_id).first()
        if attempt is None:
            raise Http404(_("No such attempt."))
        return JsonResponse(attempt_progress(attempt))

    @display(description=gettext_lazy("progress"))
    def progress_display(self, obj):
        return progress_html(obj, _progress_url(obj))

    @display(description=gettext_lazy("deliveries"))
    def deliveries_display(self, obj):
        """Problems first, with the server's reply; the full list is the Delivery changelist."""
        rows = list(
            obj.deliveries.exclude(status=DeliveryStatus.SENT).order_by("pk")[:DELIVERIES_SHOWN]
        )
        rows += list(obj.deliveries.filter(status=DeliveryStatus.SENT).order_by("pk")[: DELIVERIES_SHOWN - len(rows)])
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((d.email, d.get_status_display(), d.smtp_code or "", d.smtp_response, d.tries) for d in rows),
        )
        link = reverse("admin:mailings_delivery_changelist") + f"?attempt__id__exact={obj.pk}"
        return format_html(
            '<table class="w-full text-sm"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            '</tr></thead><tbody>{}</tbody></table><p><a href="{}">{}</a></p>',
            _("e-mail"), _("status"), _("SMTP code"), _("SMTP response"), _("tries"), body, link,
            _("All %(count)s deliveries") % {"count": obj.recipients},
        )

