"""Public account forms: registration and resending the verification link.

The login form is ``backoffice.forms.LoginForm``, shared with the admin login.
"""
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import BaseUserCreationForm
from django.utils.translation import gettext_lazy as _

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
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("An account with this e-mail already exists. Log in or reset your password."),
                code="taken",
            )
        return email

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
