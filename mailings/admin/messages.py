"""Messages: the text of a mailing, with a preview as a sample recipient sees it."""
from django.contrib import admin
from django.db.models import Count
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from lib.sanitize import sanitize_html
from mailings.admin.base import OwnedAdmin
from mailings.forms import MessageForm
from mailings.models import Message
from mailings.preflight import findings
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
    readonly_fields = ["preview", "preflight", "created_at", "updated_at"]

    def get_queryset(self, request):
        # Meta.ordering is dropped from aggregate queries; autocomplete pages need an order.
        return super().get_queryset(request).annotate(mailing_count=Count("mailings")).order_by("-created_at", "-pk")

    def get_fields(self, request, obj=None):
        fields = ["subject", "body"]
        return fields + ["preview", "preflight", "created_at", "updated_at"] if obj else fields

    @display(description=_("mailings"), ordering="mailing_count")
    def mailing_count(self, message):
        return message.mailing_count

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

    @display(description=_("pre-flight check"))
    def preflight(self, message):
        """What receivers' filters will look at, in a sample build of the message."""
        return format_html(
            '<ul class="flex flex-col gap-1" id="preflight">{}</ul>',
            format_html_join(
                "", '<li data-problem="{}" class="{}">{}</li>',
                ((int(problem), "text-red-600" if problem else "", text) for problem, text in findings(message)),
            ),
        )
