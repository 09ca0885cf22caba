"""Admin forms of clients, messages and mailings: validation that explains itself.

Each form knows the owner of the object it edits (``owner``, set by the admin's
``get_form``): the person adding it, or the owner of the object being changed. Choices and
checks are limited to that owner's clients and messages.
"""
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _
from django_ckeditor_5.widgets import CKEditor5Widget
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldBooleanWidget

from backoffice.validators import validate_single_line
from lib.mail_domain import validate_mail_domain
from lib.sanitize import has_visible_content, sanitize_html
from mailings import importing, lists, preflight
from mailings.models import Client, ClientList, Mailing, Message, Suppression


class OwnedForm(forms.ModelForm):
    owner = None  # set on a subclass by the admin (OwnedAdmin.get_form)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.owner is not None and not self.instance.owner_id:
            self.instance.owner = self.owner


class ClientForm(OwnedForm):
    class Meta:
        model = Client
        fields = ["email", "full_name", "comment", "lists"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "lists" in self.fields:
            self.fields["lists"].queryset = ClientList.objects.filter(owner_id=self.instance.owner_id)
            self.fields["lists"].error_messages["invalid_choice"] = _("Choose only your own lists.")

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
        validate_mail_domain(email)
        return email


class MessageForm(OwnedForm):
    class Meta:
        model = Message
        fields = ["subject", "body", "spam_threshold"]
        widgets = {"body": CKEditor5Widget(config_name="default")}

    def clean_body(self):
        body = sanitize_html(self.cleaned_data.get("body") or "")
        if not has_visible_content(body):
            raise ValidationError(_("Write the text of the message."), code="required")
        return body

    def clean_spam_threshold(self):
        threshold = self.cleaned_data.get("spam_threshold")
        # A threshold nobody can check would hold every run of the message.
        if threshold is not None and not preflight.spam_check_available():
            raise ValidationError(_("SpamAssassin is not installed on this server, so no threshold can be "
                                    "checked; leave the field empty."), code="unavailable")
        return threshold


class MailingForm(OwnedForm):
    class Meta:
        model = Mailing
        fields = ["name", "message", "lists", "clients", "all_clients", "start_at", "end_at", "periodicity"]
        help_texts = {
            "start_at": _("A time in the past means: send now."),
            "clients": _("Type to search your clients by e-mail or name."),
            "lists": _("Everyone in these lists when a run starts, together with the clients below."),
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
                invalid_choice=_("Choose only your own clients."),
                invalid_pk_value=_("Choose only your own clients."),
            )
        if "lists" in self.fields:
            self.fields["lists"].queryset = ClientList.objects.filter(owner=owner)
            self.fields["lists"].error_messages.update(
                invalid_choice=_("Choose only your own lists."),
                invalid_pk_value=_("Choose only your own lists."),
            )

    def clean(self):
        cleaned = super().clean()
        chosen = [cleaned.get(name) for name in ("lists", "clients", "all_clients") if name in self.fields]
        if "clients" in self.fields and not any(chosen):
            self.add_error("clients", ValidationError(_("Choose at least one client."), code="required"))
            if "lists" in self.fields:
                self.add_error("lists", ValidationError(_("Or choose a list, or all your clients."), code="required"))
        start_at, end_at = cleaned.get("start_at"), cleaned.get("end_at")
        if start_at and end_at and end_at <= start_at:
            self.add_error("end_at", _("The end must be after the first send."))
        self._refuse_filling_lists(cleaned)
        return cleaned

    def _refuse_filling_lists(self, cleaned):
        """A list still being filled in the worker would be mailed in part (the run start
        waits for it too: lists.refuse_run_on_filling_list). Only a list the mailing is given
        now is refused: one it already had may start filling later, and the mailing may be
        edited meanwhile (its run waits)."""
        if cleaned.get("all_clients") or not cleaned.get("lists"):
            return
        had = set(self.instance.lists.values_list("pk", flat=True)) if self.instance.pk else set()
        reason = lists.filling_refusal([chosen for chosen in cleaned["lists"] if chosen.pk not in had])
        if reason:
            self.add_error("lists", ValidationError(
                _("A mailing cannot be made now: %(reason)s. Create it once the list's page says it is done.")
                % {"reason": reason}, code="list_filling"))


def checked_upload(upload):
    """An import file within the size limit; a clear form error (and nothing read) otherwise."""
    try:
        importing.check_size(upload.size)
    except importing.ImportRefused as refused:
        raise ValidationError(str(refused), code="too_big")
    return upload


class ClientImportForm(forms.Form):
    """The admin's import page: one file, CSV or XLSX; the format is recognised from its content.

    The clients of the file (new and known) may also join one of the owner's lists, or a new one.
    """

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

    client_list = forms.ModelChoiceField(
        label=_("Add them to the list"), queryset=ClientList.objects.none(), required=False,
        error_messages={"invalid_choice": _("Choose one of your lists.")},
    )
    new_list = forms.CharField(
        label=_("or to a new list named"), max_length=255, required=False,
        validators=ClientList._meta.get_field("name").validators,
    )

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.fields["client_list"].queryset = ClientList.objects.filter(owner=owner)

    def clean_import_file(self):
        return checked_upload(self.cleaned_data["import_file"])

    def clean_new_list(self):
        name = " ".join(self.cleaned_data["new_list"].split())
        if name and ClientList.objects.filter(owner=self.owner, name__iexact=name).exists():
            raise ValidationError(_("You already have a list with this name."), code="unique")
        return name

    def target_list(self):
        """The list the imported clients join (a new one is created now), or None."""
        if self.cleaned_data.get("new_list"):
            return ClientList.objects.create(owner=self.owner, name=self.cleaned_data["new_list"])
        return self.cleaned_data.get("client_list")


class SuppressionImportForm(forms.Form):
    """A file of addresses to suppress (e.g. a previous provider's unsubscribes and bounces)."""

    import_file = forms.FileField(
        label=_("File"),
        help_text=_("CSV or XLSX with an email column (or addresses in the first column)."),
        widget=UnfoldAdminFileFieldWidget(attrs={"accept": ".csv,.txt,.xlsx,text/csv"}),
    )
    reason = forms.ChoiceField(
        label=_("reason"), choices=Suppression._meta.get_field("reason").choices,
        initial=Suppression._meta.get_field("reason").choices[0][0],
    )

    def clean_import_file(self):
        return checked_upload(self.cleaned_data["import_file"])


class ClientListForm(OwnedForm):
    class Meta:
        model = ClientList
        fields = ["name", "description", "subscription_enabled"]

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        taken = ClientList.objects.filter(owner_id=self.instance.owner_id, name__iexact=name)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError(_("You already have a list with this name."), code="unique")
        return name


class SubscribeForm(forms.Form):
    """The public subscription form: an address, a name, and two traps for bots.

    ``website`` is hidden from people (a bot fills every field); ``stamp`` is the signed
    time the form was shown (a bot posts at once). Addresses are normalised as clients'
    are, names refuse control characters as everywhere else.
    """

    email = forms.CharField(label=_("E-mail"), max_length=Client._meta.get_field("email").max_length)
    full_name = forms.CharField(
        label=_("Name"), max_length=Client._meta.get_field("full_name").max_length, required=False,
        validators=[validate_single_line],
    )
    website = forms.CharField(required=False, max_length=200)
    stamp = forms.CharField(widget=forms.HiddenInput, max_length=200, required=False)

    def clean_email(self):
        email = Client.normalize_email(self.cleaned_data["email"])
        validate_single_line(email)
        if len(email) > Client._meta.get_field("email").max_length:
            raise ValidationError(_("The e-mail address is too long."), code="max_length")
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError(_("Enter a valid e-mail address."), code="invalid")
        validate_mail_domain(email)
        return email

    def clean_full_name(self):
        return " ".join(self.cleaned_data["full_name"].split())


class SuppressionForm(OwnedForm):
    class Meta:
        model = Suppression
        fields = ["email", "reason"]

    def clean_email(self):
        email = Client.normalize_email(self.cleaned_data["email"])
        taken = Suppression.objects.filter(owner_id=self.instance.owner_id, email__iexact=email)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError(_("This address is already on your suppression list."), code="unique")
        return email
