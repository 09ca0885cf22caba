"""Cached public pages and their targeted invalidation (owned by the public site)."""


def invalidate_home_stats():
    """Forget the home page figures; called when mailings or clients change."""
