"""Turn the client search's trigram indexes on or off (mailings/search_index.py says why they are optional)."""
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils.translation import gettext as _

from mailings import search_index


class Command(BaseCommand):
    help = ("Build (or with --drop remove) the PostgreSQL trigram indexes that make the client search fast at "
            "a large size; each new client then costs ~20 µs more to import.")

    def add_arguments(self, parser):
        parser.add_argument("--drop", action="store_true", help="remove the indexes")

    def handle(self, **options):
        if connection.vendor != "postgresql":
            raise CommandError(_("The client search indexes are PostgreSQL's (pg_trgm); this database is %(vendor)s.")
                               % {"vendor": connection.display_name})
        if options["drop"]:
            search_index.drop(connection)
            self.stdout.write(_("The client search indexes are removed."))
            return
        try:
            search_index.create(connection)
        except search_index.CannotIndex as error:
            raise CommandError(_(
                "The client search indexes could not be built (%(error)s). A superuser can build them by running "
                "in this database:\n%(statements)s") % {
                    "error": error, "statements": search_index.superuser_statements()}) from None
        self.stdout.write(_("The client search indexes are built: %(names)s.") % {
            "names": ", ".join(search_index.present(connection))})
