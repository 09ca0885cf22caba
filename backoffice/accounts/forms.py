"""Account forms: registration, resending the verification link, and logging in.

The login forms (public and admin) say why a correct password is refused: blocked, or
e-mail not verified. The reason is shown only after the password has been checked, so the
message reveals nothing to someone who does not know the password, and never while
django-axes has locked the login out (it would otherwise become a password oracle that
ignores the lockout).
"""
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, BaseUserCreationForm, PasswordResetForm
from django.utils.translation import gettext_lazy as _
from unfold.forms import AuthenticationForm as UnfoldAuthenticationForm

from lib.mail_domain import validate_mail_domain

User = get_user_model()


class RegistrationForm(BaseUserCreationForm):
    """E-mail, name and a password checked by AUTH_PASSWORD_VALIDATORS."""

    class Meta:
        model = User
        fields = ("email", "full_name")
        labels = {"full_name": _("Your name")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update(autocomplete="email")
        self.fields["full_name"].widget.attrs.update(autocomplete="name")

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip().lower()
        validate_mail_domain(email)  # the optional MX check (EMAIL_CHECK_MX)
        return email

    def _get_validation_exclusions(self):
        # A taken address is no form error: saying so would tell anyone who has an account.
        # The service mails the address's owner instead (service.register).
        return {*super()._get_validation_exclusions(), "email"}

    def save(self, commit=True):
        user = super().save(commit=False)
        # Active (= not blocked) but unverified: the login backend refuses it until verified.
        user.is_active = True
        user.is_staff = False
        user.email_verified_at = None
        if commit:
            user.save()
        return user


class ResendVerificationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"), max_length=254)

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()


# --- Logging in -----------------------------------------------------------------------


class ExplainRefusalMixin:
    error_messages = {
        **AuthenticationForm.error_messages,
        "blocked": _(
            "Your account is blocked. Contact the service manager if you think this is a mistake."
        ),
        "not_verified": _(
            "Your e-mail address is not verified yet. Follow the link in the e-mail we sent you."
        ),
    }

    def clean(self):
        try:
            return super().clean()
        except forms.ValidationError as error:
            if getattr(error, "code", None) == "invalid_login":
                self._explain_refusal()
            raise

    def _explain_refusal(self):
        """Replace "wrong e-mail or password" by the real reason when the password is right."""
        if self.request is not None and getattr(self.request, "axes_locked_out", False):
            return
        email = (self.cleaned_data.get("username") or "").strip()
        password = self.cleaned_data.get("password") or ""
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None or not user.check_password(password):
            return
        if not user.is_active:
            raise forms.ValidationError(self.error_messages["blocked"], code="blocked")
        if user.email_verified_at is None:
            raise forms.ValidationError(self.error_messages["not_verified"], code="not_verified")


class LoginForm(ExplainRefusalMixin, AuthenticationForm):
    """Public login form (/accounts/login/)."""


class AdminLoginForm(ExplainRefusalMixin, UnfoldAuthenticationForm):
    """The back-office login form: unfold's look, staff only, with the same explanations."""


class AccountPasswordResetForm(PasswordResetForm):
    """Django's form, but the mail is queued as an id: the worker makes the link (accounts/mail.py)."""

    def save(self, **kwargs):
        from backoffice.accounts import service

        for user in self.get_users(self.cleaned_data["email"]):
            service.send_password_reset(user)
