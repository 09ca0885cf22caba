from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "mailings"
    verbose_name = _("Mailings")

    def ready(self):
        from anymail.signals import tracking
        from django.db.models.signals import m2m_changed, post_migrate, post_save

        from mailings import dispatch, services, webhooks
        from mailings.models import Mailing
        from mailings.signals import figures_changed
        from mailings.statistics.queries import forget_figures_of_mailing

        figures_changed.connect(forget_figures_of_mailing, dispatch_uid="statistics-figures-changed")
        # Every way a mailing is saved (admin, loaddata, shell, objects.create) schedules it.
        post_save.connect(services.on_mailing_saved, sender=Mailing, dispatch_uid="mailings-schedule-on-save")
        m2m_changed.connect(
            services.on_clients_changed, sender=Mailing.clients.through, dispatch_uid="mailings-start-when-clients-added"
        )
        # The bounce mailbox's poll schedule follows BOUNCE_IMAP_HOST at every migrate.
        post_migrate.connect(dispatch.bounce_poll_schedule_after_migrate, sender=self,
                             dispatch_uid="mailings-bounce-poll-schedule")
        # A provider's bounce and complaint events (django-anymail's tracking webhooks).
        tracking.connect(webhooks.on_tracking, dispatch_uid="mailings-provider-tracking")
