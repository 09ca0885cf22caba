"""What a sending domain publishes in DNS (SPF, DKIM, DMARC), judged against how we send.

``check_domain(setup, resolver)`` looks up the three TXT records that receivers read and
returns one ``RecordCheck`` per record plus one for DMARC alignment: what was found, a
verdict, a problem code (the page turns codes into sentences in the reader's language)
and the exact TXT value to publish. A DNS failure (timeout, SERVFAIL, no resolver) is a
verdict too, never an exception. Lookups go to ``configured_resolver()`` (DNS_RESOLVER,
DNS_TIMEOUT), the one factory every DNS lookup of the project uses: the system's resolver,
or one given as "host:port" (tests point it at a DNS server on loopback); None when the
machine has no DNS configuration, which callers read as "the DNS cannot answer".
"""
import enum
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dns.exception
import dns.resolver
from django.conf import settings

from lib import dkim

DEFAULT_TIMEOUT = 3.0  # seconds for one lookup, retries included (dnspython's "lifetime")
SYSTEM_RESOLV_CONF = "/etc/resolv.conf"  # where the system's DNS servers are read from
SUGGESTED_SPF = "v=spf1 mx ~all"


class Verdict(str, enum.Enum):
    OK = "ok"
    WARNING = "warning"  # works, but weaker than it should be
    MISSING = "missing"
    WRONG = "wrong"
    ERROR = "error"  # DNS did not answer: nothing can be said


@dataclass(frozen=True)
class Lookup:
    """The TXT records at ``name`` (each record's strings joined), or why there are none."""

    name: str
    records: tuple = ()
    failure: str = ""  # "" | nxdomain | no_record | timeout | servfail | no_resolver | error
    detail: str = ""

    @property
    def answered(self):
        return self.failure in ("", "nxdomain", "no_record")


@dataclass(frozen=True)
class RecordCheck:
    kind: str  # spf | dkim | dmarc | alignment
    name: str  # the DNS name looked up ("" when nothing was looked up)
    verdict: Verdict
    problem: str = ""  # code naming what is wrong or weak; "" when OK
    found: tuple = ()
    publish: str = ""  # the TXT value to publish at ``name``; "" when nothing to change
    facts: dict = field(default_factory=dict)  # values the sentences name (policy, domains...)


@dataclass(frozen=True)
class SendingSetup:
    """How mail leaves: the From domain, the envelope (Return-Path) domain SPF is checked
    on, and the DKIM key (``public_key``: base64 of the public half, "" without a key)."""

    from_domain: str
    envelope_domain: str
    dkim_domain: str = ""
    dkim_selector: str = ""
    public_key: str = ""


# --- DNS --------------------------------------------------------------------------------


def configured_resolver():
    """The resolver the settings name (DNS_RESOLVER, DNS_TIMEOUT), or None when they name the
    system's and the machine has none: the one factory of the domain check and the MX check."""
    return make_resolver(settings.DNS_RESOLVER, timeout=settings.DNS_TIMEOUT)


def make_resolver(address="", timeout=DEFAULT_TIMEOUT):
    """A resolver asking ``address`` ("host" or "host:port"), or the system's when empty; None
    when the system has no DNS servers (no or empty resolv.conf), never an exception."""
    if address:
        resolver = dns.resolver.Resolver(configure=False)
        host, port = split_address(address)
        resolver.nameservers = [host]
        resolver.port = port
    else:
        try:
            resolver = dns.resolver.Resolver(filename=SYSTEM_RESOLV_CONF)
        except dns.resolver.NoResolverConfiguration:
            return None
    resolver.lifetime = resolver.timeout = timeout
    resolver.cache = None  # the page is asked after a DNS change: always ask again
    return resolver


def split_address(address):
    """("127.0.0.1", 5353) from "127.0.0.1:5353", "[::1]:53" or "8.8.8.8" (port 53)."""
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?|([0-9a-fA-F:]+)", address.strip())
    if not match:
        raise ValueError(address)
    host = match.group(1) or match.group(3) or match.group(5)
    port = match.group(2) or match.group(4) or "53"
    return host, int(port)


def lookup_txt(resolver, name):
    """TXT records at ``name``; a failure is a value of ``Lookup.failure``, never raised."""
    if resolver is None:
        return Lookup(name, failure="no_resolver")
    try:
        answer = resolver.resolve(name, "TXT", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return Lookup(name, failure="nxdomain")
    except dns.exception.Timeout:
        return Lookup(name, failure="timeout")
    except dns.resolver.NoNameservers as exc:
        return Lookup(name, failure="servfail", detail=str(exc))
    except dns.exception.DNSException as exc:
        return Lookup(name, failure="error", detail=str(exc))
    records = tuple(
        b"".join(rdata.strings).decode("utf-8", "replace") for rdata in (answer.rrset or ())
    )
    return Lookup(name, records=records, failure="" if records else "no_record")


def lookups(resolver, names):
    """Every name looked up at once, so a dead DNS server costs one timeout, not one each."""
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return dict(zip(names, pool.map(lambda name: lookup_txt(resolver, name), names)))


def parent_domains(domain):
    """``a.b.example.com`` → b.example.com, example.com: where DMARC falls back to (RFC 7489
    §6.6.3 asks for the organisational domain; without the public suffix list, a domain of
    two labels is taken as one)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


def aligned(domain, from_domain, strict=False):
    """DMARC alignment: the same domain (strict), or one under the other (relaxed; a parent
    and its subdomain share their organisational domain)."""
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if not domain or not from_domain:
        return False
    if strict:
        return domain == from_domain
    return domain == from_domain or domain.endswith("." + from_domain) or from_domain.endswith("." + domain)


def is_public_domain(domain):
    return "." in domain and not domain.endswith((".localhost", ".local", ".invalid", ".test"))


def check_domain(setup, resolver):
    """[SPF, DKIM, DMARC, alignment] checks of one sending setup."""
    dkim_name = f"{setup.dkim_selector}._domainkey.{setup.dkim_domain}" if setup.public_key else ""
    dmarc_names = [f"_dmarc.{setup.from_domain}"] + [f"_dmarc.{d}" for d in parent_domains(setup.from_domain)]
    names = [setup.envelope_domain, *dmarc_names] + ([dkim_name] if dkim_name else [])
    found = lookups(resolver, list(dict.fromkeys(names)))
    dmarc = check_dmarc(setup.from_domain, [found[name] for name in dmarc_names])
    return [
        check_spf(found[setup.envelope_domain]),
        check_dkim(found[dkim_name] if dkim_name else None, setup),
        dmarc,
        check_alignment(setup, dmarc),
    ]


def _failed(kind, result, publish=""):
    return RecordCheck(kind, result.name, Verdict.ERROR, problem=result.failure, publish=publish,
                       facts={"detail": result.detail})


# --- SPF (RFC 7208) ---------------------------------------------------------------------


def check_spf(result):
    if not result.answered:
        return _failed("spf", result)
    records = [r for r in result.records if re.match(r"(?i)v=spf1(\s|$)", r.strip())]
    if not records:
        return RecordCheck("spf", result.name, Verdict.MISSING, "missing", publish=SUGGESTED_SPF)
    if len(records) > 1:  # RFC 7208 §4.5: more than one is a permanent error, SPF fails
        return RecordCheck("spf", result.name, Verdict.WRONG, "several", tuple(records), publish=records[0])
    record = records[0]
    terms = record.split()[1:]
    ending = next((term for term in terms if term.lower().lstrip("+-~?") == "all"), "")
    qualifier = ending[0] if ending[:1] in "+-~?" and ending else "+"
    if ending and qualifier == "+":  # "+all"/"all": anyone on the internet passes as us
        return RecordCheck("spf", result.name, Verdict.WRONG, "pass_all", (record,),
                           publish=_with_ending(record, ending, "~all"), facts={"ending": ending})
    if ending and qualifier == "?":
        return RecordCheck("spf", result.name, Verdict.WARNING, "neutral_all", (record,),
                           publish=_with_ending(record, ending, "~all"), facts={"ending": ending})
    if not ending and not any(term.lower().startswith("redirect=") for term in terms):
        return RecordCheck("spf", result.name, Verdict.WARNING, "no_all", (record,), publish=f"{record} ~all")
    return RecordCheck("spf", result.name, Verdict.OK, found=(record,))


def _with_ending(record, ending, replacement):
    return " ".join(replacement if term == ending else term for term in record.split())


# --- DKIM (RFC 6376 §3.6.1) ---------------------------------------------------------------


def tags(record):
    """``"v=DKIM1; k=rsa; p=AB CD"`` → {"v": "DKIM1", "k": "rsa", "p": "ABCD"} (names lower-cased)."""
    parsed = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            parsed[name.strip().lower()] = "".join(value.split()) if name.strip().lower() == "p" else value.strip()
    return parsed


def check_dkim(result, setup):
    if not setup.public_key:
        return RecordCheck("dkim", "", Verdict.MISSING, "not_configured")
    publish = dkim.txt_record_value(setup.public_key)
    if not result.answered:
        return _failed("dkim", result, publish)
    records = [r for r in result.records if "p=" in r]
    facts = {"selector": setup.dkim_selector, "domain": setup.dkim_domain}
    if not records:
        return RecordCheck("dkim", result.name, Verdict.MISSING, "missing", result.records, publish, facts)
    if len(records) > 1:
        return RecordCheck("dkim", result.name, Verdict.WRONG, "several", tuple(records), publish, facts)
    record = tags(records[0])
    problem = ""
    if record.get("v", "DKIM1") != "DKIM1" or record.get("k", "rsa").lower() != "rsa":
        problem = "not_rsa"
    elif not record.get("p"):
        problem = "revoked"  # an empty p= is how a key is withdrawn
    elif record["p"] != setup.public_key:
        problem = "key_mismatch"
    if problem:
        return RecordCheck("dkim", result.name, Verdict.WRONG, problem, tuple(records), publish, facts)
    if "y" in record.get("t", "").split(":"):  # testing mode: receivers may ignore failures
        return RecordCheck("dkim", result.name, Verdict.WARNING, "testing", tuple(records), publish, facts)
    return RecordCheck("dkim", result.name, Verdict.OK, found=tuple(records), facts=facts)


# --- DMARC (RFC 7489) -------------------------------------------------------------------


def dmarc_value(from_domain, policy="none"):
    return f"v=DMARC1; p={policy}; rua=mailto:dmarc-reports@{from_domain}"


def check_dmarc(from_domain, results):
    """``results``: the lookups of _dmarc.<From domain> then of its parents, in that order."""
    own = results[0]
    for result in results:
        if not result.answered:
            return _failed("dmarc", result)
        records = [r for r in result.records if re.match(r"(?i)v\s*=\s*DMARC1\s*(;|$)", r.strip())]
        if records:
            break
    else:
        return RecordCheck("dmarc", own.name, Verdict.MISSING, "missing", publish=dmarc_value(from_domain))
    if len(records) > 1:  # RFC 7489 §6.6.3: several records → no DMARC at all
        return RecordCheck("dmarc", result.name, Verdict.WRONG, "several", tuple(records),
                           publish=dmarc_value(from_domain))
    record = tags(records[0])
    policy = record.get("p", "").lower()
    if result is not own and record.get("sp"):
        policy = record["sp"].lower()  # a subdomain's mail follows the parent's sp=
    facts = {"policy": policy, "adkim": record.get("adkim", "r").lower(), "aspf": record.get("aspf", "r").lower(),
             "inherited_from": "" if result is own else result.name}
    if policy not in ("none", "quarantine", "reject"):
        return RecordCheck("dmarc", result.name, Verdict.WRONG, "bad_policy", tuple(records),
                           publish=dmarc_value(from_domain), facts=facts)
    if policy == "none":  # monitoring only: receivers report but do nothing with failures
        return RecordCheck("dmarc", result.name, Verdict.WARNING, "monitor_only", tuple(records),
                           publish=re.sub(r"(?i)\bp\s*=\s*none", "p=quarantine", records[0]), facts=facts)
    return RecordCheck("dmarc", result.name, Verdict.OK, found=tuple(records), facts=facts)


def check_alignment(setup, dmarc):
    """DMARC passes only on a DKIM signature or SPF pass of a domain aligned with From."""
    strict_dkim = dmarc.facts.get("adkim") == "s"
    strict_spf = dmarc.facts.get("aspf") == "s"
    dkim_ok = bool(setup.public_key) and aligned(setup.dkim_domain, setup.from_domain, strict_dkim)
    spf_ok = aligned(setup.envelope_domain, setup.from_domain, strict_spf)
    facts = {"from_domain": setup.from_domain, "dkim_domain": setup.dkim_domain,
             "envelope_domain": setup.envelope_domain, "strict_dkim": strict_dkim, "strict_spf": strict_spf,
             "dkim_aligned": dkim_ok, "spf_aligned": spf_ok}
    if dkim_ok:
        return RecordCheck("alignment", "", Verdict.OK, facts=facts)
    problem = "dkim_unaligned" if setup.public_key else "no_dkim"
    if spf_ok:  # SPF alone breaks when mail is forwarded
        return RecordCheck("alignment", "", Verdict.WARNING, problem, facts=facts)
    return RecordCheck("alignment", "", Verdict.WRONG, "unaligned", facts=facts)
