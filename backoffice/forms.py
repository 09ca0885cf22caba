"""Login forms that say why a correct password is refused: blocked, or e-mail not verified.

The reason is shown only after the password has been checked, so the message reveals
nothing to someone who does not know the password, and never while django-axes has locked
the login out (it would otherwise become a password oracle that ignores the lockout).
"""
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _
from unfold.forms import AuthenticationForm as UnfoldAuthenticationForm


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
