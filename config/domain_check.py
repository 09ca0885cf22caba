"""The admin's domain check page: what the sending domain publishes in DNS, judged.

``/admin/domains/`` shows, for the service's sending set-up (``sending_setups``), the SPF,
DKIM and DMARC records lib/dns_check.py finds, a verdict per record and the exact TXT
record to publish. Which domains: every message (mailings, test sends, account mail) has
DEFAULT_FROM_EMAIL in From, so its domain is the one DMARC judges; SPF is checked on the
envelope (Return-Path) domain, BOUNCE_DOMAIN or else the From domain; DKIM at the
configured selector of DKIM_DOMAIN, against the public half of our own private key.

Superusers and managers only (``permissions.can_check_domains``), read-only: it changes
nothing and asks the DNS afresh on every view (DNS_RESOLVER, DNS_TIMEOUT).
"""
import functools
from email.utils import parseaddr

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_safe

from backoffice import permissions
from lib import dkim, dns_check
from lib.dns_check import SendingSetup, Verdict
from mailings.bounces import envelope_domain

TITLES = {"spf": "SPF", "dkim": "DKIM", "dmarc": "DMARC", "alignment": gettext_lazy("Alignment with the From domain")}
VERDICT_LABELS = {
    Verdict.OK: pgettext_lazy("verdict", "OK"),
    Verdict.WARNING: gettext_lazy("needs attention"),
    Verdict.MISSING: gettext_lazy("missing"),
    Verdict.WRONG: gettext_lazy("wrong"),
    Verdict.ERROR: gettext_lazy("DNS did not answer"),
}


@functools.lru_cache(maxsize=4)
def public_key(private_key_pem):
    return dkim.public_key_base64(private_key_pem)


def from_address():
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower()


def sending_setups():
    """The set-ups mail leaves with: one, since every From is DEFAULT_FROM_EMAIL."""
    from_domain = from_address().rpartition("@")[2]
    key = settings.DKIM_KEY
    return [SendingSetup(
        from_domain=from_domain,
        envelope_domain=envelope_domain(from_address()),
        dkim_domain=key.domain if key else "",
        dkim_selector=key.selector if key else "",
        public_key=public_key(key.private_key) if key else "",
    )]


def explanation(check):
    """The sentence that says what a verdict means and what to do, in the reader's language."""
    facts = {"name": check.name, "seconds": settings.DNS_TIMEOUT, "dkim_domain": "—", **check.facts}
    facts["dkim_domain"] = facts["dkim_domain"] or "—"
    if check.verdict == Verdict.ERROR:
        text = ERRORS.get(check.problem, ERRORS["error"])
    else:
        text = SENTENCES[check.kind][check.problem or "ok"]
    text = str(text) % facts
    if check.kind == "dmarc" and check.facts.get("inherited_from"):
        text += " " + _("The record is the parent domain's, at %(parent)s.") % {"parent": check.facts["inherited_from"]}
    return text


def view_of(check, setup):
    publish_line = ""
    if check.kind == "dkim" and check.publish:  # the zone-file line, as manage.py dkim_keygen prints it
        publish_line = dkim.txt_record(setup.dkim_selector, setup.dkim_domain, setup.public_key)
    return {
        "kind": check.kind, "title": TITLES[check.kind], "name": check.name, "found": check.found,
        "verdict": check.verdict.value, "verdict_label": VERDICT_LABELS[check.verdict],
        "explanation": explanation(check), "publish": check.publish, "publish_line": publish_line,
    }


@require_safe  # read-only: a POST has nothing to do here
def domain_check_view(request):
    if not permissions.can_check_domains(request.user):
        raise PermissionDenied
    domains = []
    for setup in sending_setups():
        checks = []
        if dns_check.is_public_domain(setup.from_domain):
            checks = [view_of(check, setup) for check in dns_check.check_domain(setup, dns_check.configured_resolver())]
        domains.append({"setup": setup, "checks": checks})
    context = {
        **admin.site.each_context(request),
        "title": _("Domain check"),
        "domains": domains,
        "from_address": from_address(),
        "resolver": settings.DNS_RESOLVER,
    }
    return TemplateResponse(request, "admin/domain_check.html", context)


ERRORS = {
    "timeout": gettext_lazy("The DNS server did not answer about %(name)s within %(seconds)s s, so nothing can be "
                            "said about this record. Try again later, or check DNS_RESOLVER."),
    "servfail": gettext_lazy("The DNS server failed to answer about %(name)s (SERVFAIL): the domain's name servers "
                             "may be broken or unreachable."),
    "no_resolver": gettext_lazy("No DNS server is configured on this machine (no /etc/resolv.conf): set "
                                "DNS_RESOLVER."),
    "error": gettext_lazy("The DNS lookup of %(name)s failed: %(detail)s"),
}
SENTENCES = {
    "spf": {
        "ok": gettext_lazy("The SPF record is published, and mail from servers it does not list fails the check."),
        "missing": gettext_lazy(
            "There is no SPF record at %(name)s: receivers cannot tell which servers may send for the domain. "
            "Publish one listing the servers that send for it (the relay at EMAIL_HOST), e.g. with ip4:… or "
            "your provider's include:…; the record below allows the domain's MX servers."),
        "several": gettext_lazy(
            "%(name)s has several SPF records: receivers take that as an error and SPF fails. Merge them into one."),
        "pass_all": gettext_lazy(
            "The SPF record ends with %(ending)s: any server on the internet passes as this domain. "
            "End it with ~all (or -all)."),
        "neutral_all": gettext_lazy(
            "The SPF record ends with ?all: servers it does not list are neither allowed nor refused. "
            "End it with ~all (or -all)."),
        "no_all": gettext_lazy(
            "The SPF record does not end with all: servers it does not list are neither allowed nor refused. "
            "Add ~all (or -all)."),
    },
    "dkim": {
        "ok": gettext_lazy("The published key matches the private key this service signs with."),
        "not_configured": gettext_lazy(
            "Messages are not DKIM-signed: no key is configured. Make one with manage.py dkim_keygen and set "
            "DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE."),
        "missing": gettext_lazy(
            "There is no DKIM key at %(name)s: receivers cannot verify the signature. Publish the record below."),
        "several": gettext_lazy(
            "%(name)s has several DKIM records, and receivers may take either. Keep only the one below."),
        "not_rsa": gettext_lazy("The record at %(name)s is not a DKIM RSA key. Publish the record below."),
        "revoked": gettext_lazy(
            "The key at %(name)s is revoked (p= is empty): every signature fails. Publish the record below."),
        "key_mismatch": gettext_lazy(
            "The key published at %(name)s does not match the private key this service signs with: every "
            "signature fails. Publish the record below, or configure the private key of the published one."),
        "testing": gettext_lazy(
            "The record is in testing mode (t=y): receivers may ignore a failed signature. Remove t=y once "
            "signatures pass."),
    },
    "dmarc": {
        "ok": gettext_lazy(
            "Policy p=%(policy)s: receivers put mail that fails the check in spam (quarantine) or refuse it "
            "(reject)."),
        "missing": gettext_lazy(
            "There is no DMARC record at %(name)s; Gmail and Yahoo require one from bulk senders since 2024. "
            "Start with p=none and reports sent to a mailbox you read (rua=)."),
        "several": gettext_lazy("%(name)s has several DMARC records, so receivers apply none. Keep one."),
        "bad_policy": gettext_lazy(
            "The DMARC record has no valid policy: p= must be none, quarantine or reject."),
        "monitor_only": gettext_lazy(
            "Policy p=none: receivers only send reports and deliver failing mail as usual, so nothing stops "
            "others from sending as this domain. It meets the bulk senders' requirement; once the reports show "
            "that all your mail passes, move to p=quarantine, then to p=reject."),
    },
    "alignment": {
        "ok": gettext_lazy(
            "The DKIM signing domain d=%(dkim_domain)s is aligned with the From domain %(from_domain)s, so a "
            "valid signature passes DMARC even when mail is forwarded."),
        "dkim_unaligned": gettext_lazy(
            "The DKIM domain %(dkim_domain)s is not aligned with the From domain %(from_domain)s, so DMARC rests "
            "on SPF of %(envelope_domain)s alone, which fails when mail is forwarded. Set DKIM_DOMAIN to the "
            "From domain."),
        "no_dkim": gettext_lazy(
            "Without a DKIM signature DMARC rests on SPF of %(envelope_domain)s alone, which fails when mail is "
            "forwarded."),
        "unaligned": gettext_lazy(
            "Neither the DKIM domain (%(dkim_domain)s) nor the envelope domain %(envelope_domain)s is aligned "
            "with the From domain %(from_domain)s: DMARC fails for every message. Set DKIM_DOMAIN and "
            "BOUNCE_DOMAIN to the From domain or a domain under it."),
    },
}
