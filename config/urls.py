from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from config.health import health

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/", include("backoffice.accounts.urls")),
    path("ckeditor5/", include("django_ckeditor_5.urls")),
    path("health/", health, name="health"),
    path("", include("mailings.urls")),
    path("", include("content.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
