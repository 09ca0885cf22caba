"""Recount every statistic from the kept Delivery rows and the counts retention compacted."""
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from mailings.models import DeliveryStat, RolledUpRun
from mailings.statistics import rollup


class Command(BaseCommand):
    help = "Recompute the statistics (DeliveryStat) from the delivery rows kept and the compacted totals."

    def handle(self, **options):
        rollup.rebuild()
        # Cached figures (STATS_CACHE_SECONDS) follow within a minute.
        self.stdout.write(_("Statistics rebuilt: %(runs)s finished runs, %(counts)s count rows.") % {
            "runs": RolledUpRun.objects.count(), "counts": DeliveryStat.objects.count(),
        })
