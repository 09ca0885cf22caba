"""Prints sisimai's expected (status, reply code, reason, hardbounce) per corpus file as JSON.

Usage: python extract_expectations.py PATH_TO_P5_SISIMAI_GIT_CLONE > all.json
It reads the `$isexpected` tables of p5-sisimai's t/*-lhost-*.t, t/*-rhost-*.t, t/890-rfc3464.t,
t/891-rfc3834.t and t/899-arf.t at HEAD; expected.json is this output restricted to the copied files.
"""
import json
import re
import subprocess
import sys

REPO = sys.argv[1]
names = subprocess.run(["git", "-C", REPO, "ls-tree", "--name-only", "HEAD", "t/"], capture_output=True, text=True).stdout.split()
out = {}
for name in names:
    m = re.match(r"t/\d+-(lhost|rhost)-(.+)\.t$", name) or re.match(r"t/\d+-(rfc3464|rfc3834|arf)\.t$", name)
    if not m:
        continue
    text = subprocess.run(["git", "-C", REPO, "show", f"HEAD:{name}"], capture_output=True, text=True).stdout
    engine = re.search(r"my \$enginename = '([^']+)'", text)
    if not engine: continue
    prefix = f"{m.group(1)}-{engine.group(1).lower()}" if m.group(1) in ("lhost", "rhost") else engine.group(1).lower()
    block = text.split("my $isexpected = {", 1)[1].split("};", 1)[0]
    for idx, body in re.findall(r"'(\d+)'\s*=>\s*\[(.*?\])\s*\]\s*,", block, re.S):
        rows = re.findall(r"\[\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*(\d)", body)
        out[f"{prefix}-{idx}.eml"] = [{"status": s, "reply": r, "reason": why, "hardbounce": int(h)} for s, r, why, h in rows]
json.dump(out, sys.stdout, indent=1, sort_keys=True)
