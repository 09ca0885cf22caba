"""Whether an address's domain takes mail at all (the optional MX check, EMAIL_CHECK_MX).

email-validator's own deliverability check decides: an MX record (RFC 5321 §5), else a
globally reachable A or AAAA record, takes mail; a domain that does not exist, publishes a
null MX (RFC 7505) or has neither MX nor address records does not (email-validator also
refuses a domain without MX whose SPF is "v=spf1 -all"). A timeout or a failing DNS server
is our trouble, not the recipient's: the address is accepted and the failure logged; so is
a machine without DNS configuration (no /etc/resolv.conf and no DNS_RESOLVER).

``refusal(email)`` answers for one address; ``DomainCheck`` answers for many (an import)
and asks about each domain once. Both cost nothing while the setting is off. Lookups go to
the resolver the domain check page uses (``lib.dns_check.configured_resolver``:
DNS_RESOLVER, DNS_TIMEOUT), with an answer cache shared by the process.
"""
import logging
import threading

import dns.resolver
import email_validator
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from lib.dns_check import configured_resolver

logger = logging.getLogger(__name__)

_resolvers = {}
_resolvers_lock = threading.Lock()


def shared_resolver():
    """One resolver per (DNS_RESOLVER, DNS_TIMEOUT), with an LRU answer cache: the forms of
    one process, and an import's many rows of one domain, ask the DNS once per TTL. None
    while the machine has no DNS configuration (not kept: asked again once it has one)."""
    key = (settings.DNS_RESOLVER, settings.DNS_TIMEOUT)
    with _resolvers_lock:
        resolver = _resolvers.get(key)
        if resolver is None:
            resolver = configured_resolver()
            if resolver is None:
                return None
            resolver.cache = dns.resolver.LRUCache()
            _resolvers[key] = resolver
        return resolver


def domain_refusal(domain, resolver):
    """Why mail to ``domain`` (its ASCII form) cannot be delivered, or None when it can or
    when the DNS could not say (logged), as when there is no ``resolver`` at all."""
    if resolver is None:
        logger.warning("MX check of %s could not be made (no DNS server is configured on this machine: "
                       "set DNS_RESOLVER), address accepted", domain)
        return None
    try:
        # A fixed local part: the domain is what is checked (the address's own syntax is
        # another rule's, and a quoted local part must not make the check fail).
        checked = email_validator.validate_email(
            f"postmaster@{domain}", check_deliverability=True, dns_resolver=resolver,
            globally_deliverable=False, allow_domain_literal=True,
        )
    except email_validator.EmailUndeliverableError as error:
        cause = error.__cause__
        if isinstance(cause, dns.resolver.NXDOMAIN):
            return _("The domain %(domain)s does not exist: no mail can reach it.") % {"domain": domain}
        if cause is None or isinstance(cause, dns.resolver.NoAnswer):
            return _("The domain %(domain)s does not accept mail.") % {"domain": domain}
        # email-validator turns any other failure into "undeliverable": not the domain's fault.
        logger.warning("MX check of %s could not be made, address accepted: %s", domain, error)
        return None
    except email_validator.EmailSyntaxError:
        return None  # the syntax rule (Client.normalize_email, the validators) speaks about that
    if getattr(checked, "mx", None) is None and not domain.startswith("["):
        # email-validator answers a timeout or SERVFAIL with "deliverability unknown".
        logger.warning("MX check of %s got no answer from the DNS, address accepted", domain)
    return None


class DomainCheck:
    """The MX check for many addresses: each domain's verdict kept, so an import of many rows
    of one domain asks once (a timed-out domain included: it is not asked again)."""

    def __init__(self, resolver=None):
        self.resolver = resolver if resolver is not None else shared_resolver()
        self.verdicts = {}

    def refusal(self, email):
        domain = (email or "").rpartition("@")[2].strip().lower().rstrip(".")
        if not domain:
            return None
        if domain not in self.verdicts:
            self.verdicts[domain] = domain_refusal(domain, self.resolver)
        return self.verdicts[domain]


def domain_check():
    """A DomainCheck when EMAIL_CHECK_MX is on, else None (callers then skip the check)."""
    return DomainCheck() if settings.EMAIL_CHECK_MX else None


def refusal(email):
    """Why ``email`` cannot receive mail (a sentence naming its domain), or None; always
    None while EMAIL_CHECK_MX is off, without a DNS query."""
    check = domain_check()
    return check.refusal(email) if check else None


def validate_mail_domain(email):
    """The forms' validator: ValidationError (code "no_mail") when ``refusal`` refuses."""
    reason = refusal(email)
    if reason:
        raise ValidationError(reason, code="no_mail")
