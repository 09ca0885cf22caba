"""Pre-flight of a message (lib/preflight.py) as its owner reads it on the message page.

A sample of the message is built exactly as the send path builds it (``PreparedMessage``)
and checked; the findings are sentences in the reader's language. SpamAssassin is left
out here: loading its rules takes seconds, too slow for every view of the page.
"""
from email.utils import formatdate

from django.conf import settings
from django.utils.translation import gettext as _

from lib import preflight
from mailings.rendering import PreparedMessage, Recipient

SAMPLE = Recipient(delivery_id=0, client_id=0, email="ivan.petrov@example.com", full_name="Ivan Petrov",
                   unsubscribed=False, tries=0)


def findings(message):
    """(is_problem, sentence) for each thing the check found about a sample build of ``message``."""
    prepared = PreparedMessage(subject=message.subject, body=message.body, from_email=settings.DEFAULT_FROM_EMAIL,
                               site_url=settings.SITE_URL, run_id=0)
    result = preflight.check(prepared.build(SAMPLE, formatdate(usegmt=True)),
                             unsubscribe_prefix=prepared.unsubscribe_prefix, spamassassin=False)
    return _size(result) + _links(result) + _unsubscribe(result)


def _size(result):
    kilobytes = round(result.size / 1024)
    if result.too_big:
        return [(True, _("The message is %(size)s KB: Gmail cuts off messages over about 100 KB.")
                 % {"size": kilobytes})]
    return [(False, _("Size: %(size)s KB.") % {"size": kilobytes})]


def _links(result):
    found = [(False, _("Links: %(count)s.") % {"count": len(result.links)})]
    for link in result.insecure_links:
        found.append((True, _("A link is not over https: %(url)s") % {"url": link.url}))
    for link in result.mismatched_links:
        found.append((True, _("A link shows one address and leads to another: %(text)s → %(url)s")
                      % {"text": link.text, "url": link.url}))
    return found


def _unsubscribe(result):
    found = []
    if not result.has_unsubscribe_header:
        found.append((True, _("The one-click unsubscribe header is missing.")))
    if not result.has_unsubscribe_link:
        found.append((True, _("The unsubscribe link is missing.")))
    return found
