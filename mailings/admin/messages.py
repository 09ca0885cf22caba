"""Messages: the text of a mailing, with a preview as a sample recipient sees it, and a
preview of the unsaved text as one of the owner's clients will receive it (mailings.previews)."""
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import render
from django.urls import path
from django.utils.formats import number_format
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from backoffice import permissions
from lib.sanitize import sanitize_html
from mailings import previews
from mailings.admin.base import OwnedAdmin
from mailings.forms import MessageForm
from mailings.models import Client, Message
from mailings.preflight import findings, spam_findings
from mailings.rendering import Template as MessageTemplate


def sample_recipient():
    return {"full_name": str(_("Ivan Petrov")), "email": "ivan.petrov@example.com", "unsubscribe_url": "#"}


@admin.register(Message)
class MessageAdmin(OwnedAdmin):
    form = MessageForm
    list_display = ["subject", "mailing_count", "created_at"]
    search_fields = ["subject"]
    list_filter = ["created_at"]
    date_hierarchy = "created_at"
    readonly_fields = ["rendered_body", "preview", "preflight", "created_at", "updated_at"]
    change_form_after_template = "admin/mailings/message/preview_controls.html"
    PREVIEW_CHOICES = 100  # addresses offered in the preview's list; any other can be typed

    def get_queryset(self, request):
        # Meta.ordering is dropped from aggregate queries; autocomplete pages need an order.
        return super().get_queryset(request).annotate(mailing_count=Count("mailings")).order_by("-created_at", "-pk")

    def get_fields(self, request, obj=None):
        # Who cannot edit (a manager) reads the body as HTML, not as its source code.
        body = "body" if obj is None or self.has_change_permission(request, obj) else "rendered_body"
        fields = ["subject", body, "spam_threshold"]
        return fields + ["preview", "preflight", "created_at", "updated_at"] if obj else fields

    @display(description=_("mailings"), ordering="mailing_count")
    def mailing_count(self, message):
        return message.mailing_count

    @display(description=_("body"))
    def rendered_body(self, message):
        """The body as HTML, sanitised again on display, its placeholders left as written."""
        return format_html(
            '<div class="prose max-w-none dark:prose-invert">{}</div>',
            mark_safe(sanitize_html(message.body)),  # sanitised here
        )

    @display(description=_("preview"))
    def preview(self, message):
        """The message as a sample recipient sees it (body sanitised again on display)."""
        sample = sample_recipient()
        # The same placeholder rule as the sending engine (mailings.rendering).
        subject = MessageTemplate(message.subject).render(sample)
        body = MessageTemplate(sanitize_html(message.body)).render(
            {key: escape(value) for key, value in sample.items()}
        )
        return format_html(
            '<div class="border border-base-200 rounded-default p-4 dark:border-base-700">'
            '<p class="text-sm text-base-500">{}: {}</p><p class="font-semibold mb-3">{}</p>'
            '<div class="prose max-w-none dark:prose-invert">{}</div></div>',
            _("To"),
            f"{sample['full_name']} <{sample['email']}>",
            subject,
            mark_safe(body),  # sanitised just above
        )

    # --- preview of the unsaved text as one of the owner's clients receives it ----------

    def get_urls(self):
        preview = path("preview/", self.admin_site.admin_view(self.preview_view), name="mailings_message_preview")
        return [preview, *super().get_urls()]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if permissions.can_edit_owned(request.user, obj):
            context["preview_clients"] = (
                Client.objects.owned_by(request.user).values_list("email", flat=True)[: self.PREVIEW_CHOICES]
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def preview_view(self, request):
        """POST from the message form (its unsaved subject and body) and a client's address."""
        if request.method != "POST" or not permissions.can_edit_owned(request.user):
            raise PermissionDenied
        address = request.POST.get("preview_email", "").strip()
        client = None
        if address:
            client = Client.objects.owned_by(request.user).filter(
                email__iexact=Client.normalize_email(address)
            ).first()
        recipient = previews.recipient_for(client) if client else previews.sample_recipient()
        preview = previews.preview_message(
            subject=request.POST.get("subject", ""), body=request.POST.get("body", ""), recipient=recipient
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Preview of the message"),
            "preview": preview,
            "unknown_address": address if address and client is None else "",
        }
        return render(request, "admin/mailings/message/preview.html", context)

    @display(description=_("pre-flight check"))
    def preflight(self, message):
        """What receivers' filters will look at, in a sample build of the message; SpamAssassin's
        score and the rules it hit when it is installed (scored by a worker, then cached)."""
        spam, rules = spam_findings(message)
        items = format_html_join(
            "", '<li data-problem="{}" class="{}">{}</li>',
            ((int(problem), "text-red-600" if problem else "", text) for problem, text in findings(message) + spam),
        )
        table = ""
        if rules:
            table = format_html(
                '<table id="spam-rules" class="mt-2 text-sm"><thead><tr><th class="pr-3 text-left">{}</th>'
                '<th class="pr-3 text-right">{}</th><th class="text-left">{}</th></tr></thead><tbody>{}</tbody></table>',
                _("rule"), _("points"), _("description"),
                format_html_join("", '<tr><td class="pr-3 font-mono">{}</td><td class="pr-3 text-right">{}</td>'
                                     "<td>{}</td></tr>",
                                 ((rule.name, number_format(rule.points, 1), rule.description) for rule in rules)),
            )
        return format_html('<ul class="flex flex-col gap-1" id="preflight">{}</ul>{}', items, table)
