from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "backoffice"
    verbose_name = _("People")

    def ready(self):
        from backoffice import checks  # noqa: F401  registers the start-up checks
