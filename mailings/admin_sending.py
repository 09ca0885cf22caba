"""Sending-related admin features (send now, test, retry, progress), mixed into MailingAdmin.

Owned by the sending engine; ``mailings/admin.py`` only inherits from these mixins. Every
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
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.decorators import action, display

from backoffice import permissions
from mailings import scheduling
from mailings.models import AttemptKind, AttemptStatus, DeliveryStatus

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

    def _confirmed(self, request, object_id, title, question):
        """(mailing, True) on a POST; (mailing, confirmation page) on a GET."""
        mailing = self._scoped_mailing(request, object_id)
        if mailing is None:
            raise Http404(_("No such mailing."))
        if not permissions.can_edit_owned(request.user, mailing):
            raise PermissionDenied
        if request.method == "POST":
            return mailing, None
        context = {
            **self.admin_site.each_context(request),
            "title": title, "question": question, "object": mailing, "opts": self.model._meta,
            "back_url": reverse("admin:mailings_mailing_change", args=[mailing.pk]),
        }
        return mailing, TemplateResponse(request, "mailings/admin/confirm_action.html", context)

    def _back(self, mailing):
        return redirect(reverse("admin:mailings_mailing_change", args=[mailing.pk]))

    @action(description=gettext_lazy("Send now"), url_path="send-now", icon="send", permissions=["send_mailing"])
    def send_now_action(self, request, object_id):
        mailing, page = self._confirmed(
            request, object_id, _("Send now"), _("Send this mailing to all its clients now?")
        )
        if page:
            return page
        started = scheduling.send_now(mailing=mailing, now=timezone.now())
        if started:
            messages.success(request, _("The run is queued; progress appears below."))
        else:
            messages.warning(request, _("Nothing to send: the mailing is disabled or its owner is blocked."))
        return self._back(mailing)

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
        mailing, page = self._confirmed(
            request, object_id, _("Retry failed recipients"),
            _("Send again to the recipients the last finished run could not reach?"),
        )
        if page:
            return page
        if scheduling.retry_failed(mailing=mailing, now=timezone.now()):
            messages.success(request, _("A retry of the failed recipients is queued."))
        else:
            messages.warning(request, _("There is no finished run with failed recipients to retry."))
        return self._back(mailing)


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

