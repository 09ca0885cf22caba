"""Admin forms of clients, messages and mailings: validation that explains itself.

Each form knows the owner of the object it edits (``owner``, set by the admin's
``get_form``): the person adding it, or the owner of the object being changed. Choices and
checks are limited to that owner's clients and messages.
"""
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_ckeditor_5.widgets import CKEditor5Widget
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldBooleanWidget

from lib.sanitize import has_visible_content, sanitize_html
from mailings import importing
from mailings.models import Client, Mailing, Message


class OwnedForm(forms.ModelForm):
    owner = None  # set on a subclass by the admin (OwnedAdmin.get_form)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.owner is not None and not self.instance.owner_id:
            self.instance.owner = self.owner


class ClientForm(OwnedForm):
    class Meta:
        model = Client
        fields = ["email", "full_name", "comment"]

    def clean_email(self):
        email = Client.normalize_email(self.cleaned_data["email"])
        max_length = Client._meta.get_field("email").max_length
        if len(email) > max_length:  # the ASCII form of a Unicode domain is longer
            raise ValidationError(
                _("The e-mail address is longer than %(max)d characters.") % {"max": max_length}, code="max_length"
            )
        taken = Client.objects.filter(owner=self.instance.owner, email__iexact=email)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if self.instance.owner_id and taken.exists():
            raise ValidationError(_("You already have a client with this e-mail."), code="unique")
        return email


class MessageForm(OwnedForm):
    class Meta:
        model = Message
        fields = ["subject", "body"]
        widgets = {"body": CKEditor5Widget(config_name="default")}

    def clean_body(self):
        body = sanitize_html(self.cleaned_data.get("body") or "")
        if not has_visible_content(body):
            raise ValidationError(_("Write the text of the message."), code="required")
        return body


class MailingForm(OwnedForm):
    class Meta:
        model = Mailing
        fields = ["message", "clients", "start_at", "end_at", "periodicity"]
        help_texts = {
            "start_at": _("A time in the past means: send now."),
            "clients": _("Type to search your clients by e-mail or name."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        owner = self.instance.owner if self.instance.owner_id else None
        if "message" in self.fields:
            self.fields["message"].queryset = Message.objects.filter(owner=owner)
            self.fields["message"].error_messages["invalid_choice"] = _("Choose one of your own messages.")
        if "clients" in self.fields:
            clients = self.fields["clients"]
            clients.queryset = Client.objects.filter(owner=owner)
            clients.error_messages.update(
                required=_("Choose at least one client."),
                invalid_choice=_("Choose only your own clients."),
                invalid_pk_value=_("Choose only your own clients."),
            )

    def clean(self):
        cleaned = super().clean()
        start_at, end_at = cleaned.get("start_at"), cleaned.get("end_at")
        if start_at and end_at and end_at <= start_at:
            self.add_error("end_at", _("The end must be after the first send."))
        return cleaned


class ClientImportForm(forms.Form):
    """The admin's import page: one file, CSV or XLSX; the format is recognised from its content."""

    import_file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (UTF-8 or Windows-1251, separated by ; or ,) or XLSX. Columns: email, full_name, "
            "comment; the first row names them. Known addresses are updated, new ones added."
        ),
        widget=UnfoldAdminFileFieldWidget(attrs={"accept": ".csv,.txt,.xlsx,text/csv"}),
    )
    all_or_nothing = forms.BooleanField(
        label=_("Import nothing if any row is invalid"),
        required=False,
        help_text=_("Otherwise valid rows are imported and invalid ones are listed, with their line."),
        widget=UnfoldBooleanWidget,
    )

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        try:
            importing.check_size(upload.size)
        except importing.ImportRefused as refused:
            raise ValidationError(str(refused), code="too_big")
        return upload
