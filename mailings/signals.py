"""Signals mailings sends, so that apps above it can react without mailings knowing them."""
from django.dispatch import Signal

# The figures derived from mailings changed in a way model signals do not announce (the end
# or pause of a run, an unsubscription, all written with ``QuerySet.update()``).
# ``mailing_id`` names the mailing whose runs changed, or is None. Receivers: the statistics
# cache (mailings/statistics/queries.py) and the home page's figures (content/signals.py).
figures_changed = Signal()
