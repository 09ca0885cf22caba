"""Statistics built from Attempt and Delivery rows with aggregate queries (owned by statistics)."""


def invalidate_for_mailing(mailing_id):
    """Forget cached figures that include this mailing; called when a run finishes."""
