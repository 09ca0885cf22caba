from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project shell as an app: its management commands and start-up checks."""

    name = "config"

    def ready(self):
        from django.contrib import admin

        from config import checks  # noqa: F401  registers the start-up checks
        from config.admin_grammar import make_admins_grammatical

        # After django.contrib.admin's ready() has registered every app's admin.
        make_admins_grammatical(admin.site)
