from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "content"
    verbose_name = _("Blog")

    def ready(self):
        from content import signals  # noqa: F401  (connects the cache invalidation receivers)
