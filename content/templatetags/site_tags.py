"""Small template helpers of the public site."""
import math

from django import template

register = template.Library()


@register.filter
def minutes(delta):
    """A timedelta rounded up to whole minutes (for "try again in N minutes")."""
    try:
        return max(1, math.ceil(delta.total_seconds() / 60))
    except AttributeError:
        return ""
