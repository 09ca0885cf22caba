from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.templatetags.static import static as static_url
from django.urls import include, path
from django.views.generic import RedirectView

from config.domain_check import domain_check_view
from config.health import health
from mailings import webhooks

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/domains/", admin.site.admin_view(domain_check_view), name="domain_check"),
    path("admin/", admin.site.urls),
    path("accounts/", include("backoffice.accounts.urls")),
    path("ckeditor5/", include("django_ckeditor_5.urls")),
    path("health/", health, name="health"),
    # Bounces and complaints from a relaying provider (django-anymail); 404 until configured.
    path("webhooks/<slug:provider>/tracking/", webhooks.tracking, name="provider_tracking_webhook"),
    # Browsers and feed readers ask for /favicon.ico whatever the page links.
    path("favicon.ico", RedirectView.as_view(url=static_url("site/favicon.svg"), permanent=True)),
    path("", include("mailings.urls")),
    path("", include("content.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
