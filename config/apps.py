from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project shell as an app: its management commands and start-up checks."""

    name = "config"

    def ready(self):
        from config import checks  # noqa: F401  registers the start-up checks
