from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "mailings"
    verbose_name = _("Mailings")

    def ready(self):
        from mailings.signals import figures_changed
        from mailings.statistics.queries import forget_figures_of_mailing

        figures_changed.connect(forget_figures_of_mailing, dispatch_uid="statistics-figures-changed")
