"""Public account pages: register, verify the e-mail address, resend the link, log in.

Password reset uses Django's own views (see urls.py) with the site's templates.
"""
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from backoffice.accounts import service, tokens
from backoffice.accounts.forms import LoginForm, RegistrationForm, ResendVerificationForm

User = get_user_model()

# One resend per address per this many seconds, so the form cannot be used to flood a mailbox.
RESEND_INTERVAL = 60


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def register(request):
    if request.user.is_authenticated:
        return redirect("admin:index")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        sent = service.send_verification_email(user=user)
        request.session["registered_email"] = user.email
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


@never_cache
@require_GET
def verify(request, token):
    """Verify on GET: the link comes from an e-mail and is single-use and expiring.

    A used, expired or mangled link explains itself and offers to send a new one.
    """
    check = tokens.check_token(token)
    context = {"outcome": check.outcome, "resend_form": ResendVerificationForm()}
    if check.outcome == "valid":
        if service.verify_email(user=check.user):
            return render(request, "registration/verify_done.html", {"user": check.user})
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
        user = User.objects.filter(
            email__iexact=email, email_verified_at__isnull=True, is_active=True
        ).first()
        if user and cache.add(f"accounts:resend:{user.pk}", 1, RESEND_INTERVAL):
            service.send_verification_email(user=user)
        return render(request, "registration/resend_done.html", {"email": email})
    return render(request, "registration/resend.html", {"form": form})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's view; the link in the e-mail points at SITE_URL like every e-mail link."""

    html_email_template_name = "registration/password_reset_email.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        site = urlsplit(settings.SITE_URL)
        # The e-mail context's "domain" and "protocol" make the link; extra context wins.
        self.extra_email_context = {"domain": site.netloc, "protocol": site.scheme}
        return super().form_valid(form)


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True
