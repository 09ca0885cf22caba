"""Pre-flight check of a built message before a mailing goes out.

``check(message_bytes)`` reports what receivers' filters look at: the size, whether there
is a plain-text part, the links (how many, which are not https, which show one address
and lead to another — the classic phishing sign), whether the one-click unsubscribe is
there (header and link), and, when SpamAssassin is installed on the machine, its score
and the rules the message hit (``spamassassin -t -L``: local tests only, no network).

``spam_check(message_bytes, command=..., timeout=...)`` is that last part alone: a
``SpamScore`` with each rule's points and description from SpamAssassin's report, or a
``SpamUnchecked`` saying why there is no score (not installed, no answer in time, failed).
It takes seconds (SpamAssassin loads its rules on every run): callers cache the result.
"""
import email
import email.policy
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

SIZE_WARNING = 100 * 1024  # bytes; Gmail clips messages over ~102 KB
SPAMASSASSIN_TIMEOUT = 60  # seconds; -L keeps it offline, the rules still take a while to load


@dataclass(frozen=True)
class Link:
    url: str
    text: str


@dataclass(frozen=True)
class SpamRule:
    name: str
    points: float
    description: str


@dataclass(frozen=True)
class SpamScore:
    score: float
    rules: tuple  # names of the rules hit, e.g. ("HTML_MESSAGE", "MIME_HTML_ONLY")
    required: float = 5.0  # the score SpamAssassin itself calls spam (its default is 5.0)
    details: tuple = ()  # SpamRule of each rule its report lists, most points first


@dataclass(frozen=True)
class SpamUnchecked:
    reason: str  # not_installed | timeout | failed | spamd_unreachable (the page adds not_queued)
    detail: str = ""


@dataclass(frozen=True)
class Preflight:
    size: int
    has_text_part: bool
    links: tuple = field(default_factory=tuple)
    insecure_links: tuple = field(default_factory=tuple)
    mismatched_links: tuple = field(default_factory=tuple)
    has_unsubscribe_header: bool = False
    has_unsubscribe_link: bool = False
    spam: SpamScore | None = None  # None when SpamAssassin is not installed

    @property
    def too_big(self):
        return self.size > SIZE_WARNING


class _LinkCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self._href, self._text = [], None, []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append(Link(self._href.strip(), " ".join("".join(self._text).split())))
            self._href = None


def check(message_bytes, unsubscribe_prefix="", spamassassin=True):
    """``unsubscribe_prefix``: the start of the service's unsubscribe URLs, to recognise the link."""
    message = email.message_from_bytes(message_bytes, policy=email.policy.default)
    html_parts = [part.get_content() for part in message.walk() if part.get_content_type() == "text/html"]
    has_text = any(part.get_content_type() == "text/plain" for part in message.walk())
    links = tuple(link for html in html_parts for link in links_in(html))
    unsubscribe_link = any(_is_unsubscribe(link.url, unsubscribe_prefix) for link in links)
    return Preflight(
        size=len(message_bytes),
        has_text_part=has_text,
        links=links,
        insecure_links=tuple(link for link in links if urlsplit(link.url).scheme == "http"),
        mismatched_links=tuple(link for link in links if shows_another_address(link)),
        has_unsubscribe_header=bool(message.get("List-Unsubscribe")) and bool(message.get("List-Unsubscribe-Post")),
        has_unsubscribe_link=unsubscribe_link,
        spam=spamassassin_score(message_bytes) if spamassassin else None,
    )


def links_in(html):
    collector = _LinkCollector()
    collector.feed(html)
    collector.close()
    return collector.links


def shows_another_address(link):
    """The text reads as an address on one host and the link goes to another."""
    text = link.text.lower()
    if not text.startswith(("http://", "https://", "www.")):
        return False
    shown = urlsplit(text if "://" in text else f"https://{text}").hostname or ""
    target = urlsplit(link.url).hostname or ""
    return bool(shown) and shown.removeprefix("www.") != target.lower().removeprefix("www.")


def _is_unsubscribe(url, prefix):
    return url.startswith(prefix) if prefix else "unsubscribe" in url.lower()


def spamassassin_available(command="spamassassin"):
    return shutil.which(command) is not None


def spamassassin_score(message_bytes, command="spamassassin", timeout=SPAMASSASSIN_TIMEOUT):
    """SpamAssassin's verdict, offline; None when it is not installed or does not answer."""
    result = spam_check(message_bytes, command=command, timeout=timeout)
    return result if isinstance(result, SpamScore) else None


def spam_check(message_bytes, *, command="spamassassin", timeout=SPAMASSASSIN_TIMEOUT, spamd=""):
    """A ``SpamScore``, or a ``SpamUnchecked`` that says why not; never raises.

    With ``spamd`` ("host:port" of a running spamd) the message goes to it through ``spamc``,
    which answers in a fraction of a second (the daemon keeps its rules loaded); otherwise
    ``command`` (spamassassin) runs once for the message.
    """
    if spamd:
        return _spamc_check(message_bytes, spamd, timeout)
    program = shutil.which(command)
    if program is None:
        return SpamUnchecked("not_installed", command)
    try:
        # -t: the score and the report even below the threshold; -L: local tests only, so
        # the score does not depend on (or wait for) blocklists on the network.
        result = subprocess.run([program, "-t", "-L"], input=message_bytes, capture_output=True, timeout=timeout,
                                check=False)
    except subprocess.TimeoutExpired:
        return SpamUnchecked("timeout", f"{timeout:g}")
    except OSError as exc:
        return SpamUnchecked("failed", exc.strerror or str(exc))
    score = _parse_spamassassin(result.stdout)
    if score is None:
        error = result.stderr.decode("utf-8", "replace").strip().splitlines()
        return SpamUnchecked("failed", error[-1] if error else f"exit status {result.returncode}")
    return score


SPAMC_UNAVAILABLE = 69  # EX_UNAVAILABLE: spamc could not reach spamd (with -x it says so, not "0/0")


def _spamc_check(message_bytes, spamd, timeout):
    program = shutil.which("spamc")
    if program is None:
        return SpamUnchecked("not_installed", "spamc")
    host, _sep, port = spamd.rpartition(":")
    seconds = str(max(1, round(timeout)))
    try:
        # -R: "score/required" and the report; -x: an error instead of the unchecked message.
        result = subprocess.run([program, "-d", host.strip("[]"), "-p", port, "-R", "-x", "-t", seconds],
                                input=message_bytes, capture_output=True, timeout=timeout + 5, check=False)
    except subprocess.TimeoutExpired:
        return SpamUnchecked("timeout", f"{timeout:g}")
    except OSError as exc:
        return SpamUnchecked("failed", exc.strerror or str(exc))
    text = result.stdout.decode("utf-8", "replace")
    first = text.split("\n", 1)[0].strip()
    if result.returncode == SPAMC_UNAVAILABLE or first in ("", "0/0"):
        return SpamUnchecked("spamd_unreachable", spamd)
    try:
        score, required = (float(value) + 0.0 for value in first.split("/"))
    except ValueError:
        return SpamUnchecked("failed", first[:200])
    details = _report_rules(text)
    return SpamScore(score, tuple(sorted(rule.name for rule in details)), required, details)


def _parse_spamassassin(output):
    """Reads the X-Spam-Status header that ``-t`` adds: "Yes|No, score=2.3 required=5.0 tests=A,B ...",
    and the points and descriptions of its report."""
    message = email.message_from_bytes(output, policy=email.policy.compat32)
    # Unfolded, a long tests= list reads "A,\tB": drop the fold's space so it stays one word.
    status = " ".join(str(message.get("X-Spam-Status", "")).split()).replace(", ", ",")
    if "score=" not in status:
        return None
    score = float(status.split("score=", 1)[1].split()[0]) + 0.0  # no "-0.0"
    required = float(status.split("required=", 1)[1].split()[0]) if "required=" in status else 5.0
    tests = status.split("tests=", 1)[1].split()[0] if "tests=" in status else ""
    rules = tuple(rule for rule in tests.split(",") if rule and rule != "none")
    return SpamScore(score, rules, required, _report_rules(output.decode("utf-8", "replace")))


REPORT_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


def _report_rules(text):
    """The rows of the report's table ("pts rule name description"); a description that runs
    over several lines is joined."""
    _head, found, table = text.partition("Content analysis details:")
    if not found:
        return ()
    rows = []
    for line in table.splitlines()[4:]:  # the summary, an empty line, the titles and the rule
        match = REPORT_LINE.match(line)
        if match:
            rows.append([match.group(2), float(match.group(1)) + 0.0, match.group(3).strip()])  # no "-0.0"
        elif line.startswith(" " * 10) and line.strip() and rows:
            rows[-1][2] = f"{rows[-1][2]} {line.strip()}"
        else:
            break
    return tuple(sorted((SpamRule(*row) for row in rows), key=lambda rule: -rule.points))
