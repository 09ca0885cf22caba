from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "backoffice"
    verbose_name = _("People")

    def ready(self):
        from django.db.models.signals import post_migrate

        from backoffice.roles import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, sender=self)
