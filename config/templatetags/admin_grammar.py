"""Template filters for admin texts in the right Russian case (see config/admin_grammar.py)."""
from django import template

from config.admin_grammar import noun_of

register = template.Library()


@register.filter
def accusative(opts):
    """ "Добавить {{ opts|accusative }}" → "Добавить рассылку"."""
    return noun_of(opts).accusative


@register.filter
def counted(number, opts):
    """ "{{ cl.result_count|counted:cl.opts }}" → "7 клиентов"."""
    return noun_of(opts).count(number)
