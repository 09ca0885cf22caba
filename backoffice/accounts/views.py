"""Public account pages: register, verify the e-mail address, resend the link, log in.

Password reset uses Django's own views (see urls.py) with the site's templates; every
account mail is queued as ids and built by the worker (accounts/mail.py).
"""
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from backoffice.accounts import service, tokens
from backoffice.accounts.forms import (
    AccountPasswordResetForm,
    LoginForm,
    RegistrationForm,
    ResendVerificationForm,
)

UNAVAILABLE = _(
    "The service cannot take this request right now. Nothing was saved; please try again in a few minutes."
)


def _unavailable(request, template, form):
    """The queue or cache is down: a clear message, the form kept, nothing changed (no 500)."""
    form.add_error(None, UNAVAILABLE)
    return render(request, template, {"form": form}, status=503)


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def register(request):
    """The same answer whether or not the address has an account (the owner gets a mail)."""
    if request.user.is_authenticated:
        return redirect("admin:index")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sent = service.register(form)
        except service.ServiceUnavailable:
            return _unavailable(request, "registration/register.html", form)
        request.session["registered_email"] = form.cleaned_data["email"]
        return redirect(reverse("register-done") + ("" if sent else "?unsent=1"))
    return render(request, "registration/register.html", {"form": form})


@never_cache
def register_done(request):
    return render(
        request,
        "registration/register_done.html",
        {
            "email": request.session.get("registered_email", ""),
            "unsent": "unsent" in request.GET,
            "resend_form": ResendVerificationForm(
                initial={"email": request.session.get("registered_email", "")}
            ),
        },
    )


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def verify(request, token):
    """The link opens a page with a "Confirm" button; only its POST verifies.

    A mailbox's link scanner follows links with GET: it must not verify the address for
    whoever registered it. A used, expired or mangled link explains itself and offers a new one.
    """
    check = tokens.check_token(token)
    context = {"outcome": check.outcome, "resend_form": ResendVerificationForm()}
    if check.outcome == "valid" and check.user.is_active:
        if request.method == "GET":
            return render(request, "registration/verify_confirm.html", {"user": check.user})
        if service.verify_email(user=check.user):
            return render(request, "registration/verify_done.html", {"user": check.user})
    if check.outcome == "valid":
        context["outcome"] = "blocked"
    if check.user is not None:
        context["resend_form"] = ResendVerificationForm(initial={"email": check.user.email})
        context["already_verified"] = check.user.email_verified_at is not None
    return render(request, "registration/verify_failed.html", context, status=400)


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def resend_verification(request):
    """Send a fresh link. The answer is the same whether or not the address has an account."""
    form = ResendVerificationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            service.resend_verification(email)
        except service.ServiceUnavailable:
            return _unavailable(request, "registration/resend.html", form)
        return render(request, "registration/resend_done.html", {"email": email})
    return render(request, "registration/resend.html", {"form": form})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's view; the mail is queued as an id and built by the worker (accounts/mail.py)."""

    form_class = AccountPasswordResetForm

    def form_valid(self, form):
        try:
            return super().form_valid(form)
        except service.ServiceUnavailable:
            return _unavailable(self.request, self.template_name, form)


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True
