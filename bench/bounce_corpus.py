"""How well lib/bounces.py and lib/arf.py read real bounces: sisimai's corpus, sisimai's answers.

    .venv/bin/python bench/bounce_corpus.py [-v]

For every message in lib/tests/corpus/sisimai/maildir/ it compares our class per failed
recipient (hard / soft bounce, complaint, auto-reply, delivered) with the class Sisimai's
own test suite expects (expected.json; how it was made: the corpus README). Recipients are
matched as a multiset per file, so the order of recipients inside a report does not matter.
Prints the share of recipients and of whole files classified as expected; -v lists misses.
"""
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib import arf, bounces  # noqa: E402  (after the path is set)

CORPUS = ROOT / "lib" / "tests" / "corpus" / "sisimai"


def expected_class(entry):
    if entry["reason"] == "feedback":
        return "complaint"
    if entry["reason"] == "vacation":
        return "auto-reply"
    if entry["reason"] == "delivered":
        return "delivered"
    return bounces.HARD if entry["hardbounce"] else bounces.SOFT


def our_classes(message_bytes):
    complaint = arf.parse(message_bytes)
    if complaint is not None:
        return ["complaint"] * max(1, complaint.count)
    report = bounces.parse(message_bytes)
    if report.kind == "bounce":
        return [failure.severity for failure in report.failures]
    return [report.kind]


def main(verbose=False):
    expected = json.loads((CORPUS / "expected.json").read_text())
    recipients = right_recipients = right_files = 0
    by_class = Counter()
    right_by_class = Counter()
    for name, entries in sorted(expected.items()):
        want = Counter(expected_class(entry) for entry in entries)
        got = Counter(our_classes((CORPUS / "maildir" / name).read_bytes()))
        matched = sum((want & got).values())
        recipients += sum(want.values())
        right_recipients += matched
        right_files += want == got
        for cls, count in want.items():
            by_class[cls] += count
            right_by_class[cls] += min(count, got[cls])
        if verbose and want != got:
            print(f"  miss {name}: expected {dict(want)}, got {dict(got)}")
    print(f"files: {len(expected)}, recipients: {recipients}")
    print(f"recipients classified as expected: {right_recipients}/{recipients} = {right_recipients / recipients:.1%}")
    print(f"files entirely as expected:       {right_files}/{len(expected)} = {right_files / len(expected):.1%}")
    for cls in sorted(by_class):
        print(f"  {cls:<11} {right_by_class[cls]:>4}/{by_class[cls]:<4} = {right_by_class[cls] / by_class[cls]:.1%}")


if __name__ == "__main__":
    main(verbose="-v" in sys.argv)
