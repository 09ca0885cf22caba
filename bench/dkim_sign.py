"""Cost of DKIM signing per message, beside the cost of building the message, in one run.

    .venv/bin/python bench/dkim_sign.py [N] [--profile]

Builds a typical ~5 KB mailing message with mailings.rendering.PreparedMessage (the send
path's builder), then times, on it and one RSA-2048 key (relaxed/relaxed):

- the build (the reference: what a message costs before signing);
- ``lib.dkim.sign``: dkimpy builds the signature, OpenSSL does the RSA (lib/dkim_rsa.py),
  dkimpy's parse and whitespace rules take their shortcuts (lib/dkim_shortcuts.py);
- the same without the shortcuts (dkimpy's own parse and regular expressions);
- dkimpy alone, as before: the PEM handed to ``dkim.sign``, parsed and signed in pure Python;
- the parts: dkimpy's RSA step alone, OpenSSL's alone, dkimpy's PEM parse alone (what the
  old path paid per message); "everything but RSA" is the fast path less OpenSSL's RSA.

Each line gives wall time and CPU time (process time): on a shared machine the CPU time is
the steadier figure. ``--profile`` adds cProfile's view of both paths (where the time goes).
"""
import cProfile
import hashlib
import os
import pstats
import sys
import time
from email.utils import formatdate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import dkim as dkimpy  # noqa: E402

from lib import dkim, dkim_rsa, dkim_shortcuts  # noqa: E402
from mailings.rendering import PreparedMessage, Recipient  # noqa: E402


def measure(function, count):
    """(wall ms, CPU ms) per call."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        function()
    return (time.perf_counter() - wall) / count * 1000, (time.process_time() - cpu) / count * 1000


def line(label, wall, cpu):
    print(f"{label:<44} {1000 / wall:>8.0f} /s  {wall:7.3f} ms wall  {cpu:7.3f} ms CPU", flush=True)


def dkimpy_alone(message, key):
    """The path before lib/dkim_rsa.py: PEM bytes to dkimpy, pure-Python parse and RSA."""
    return dkimpy.sign(message, key.selector.encode("ascii"), key.domain.encode("idna"), key.private_key,
                       canonicalize=dkim.CANONICALIZATION, include_headers=list(dkim.INCLUDED_HEADERS),
                       linesep=b"\r\n") + message


def without_shortcuts(function):
    """``function`` run with dkimpy's own parse and whitespace rules in place of the shortcuts."""
    def run():
        dkim_shortcuts.uninstall()
        try:
            return function()
        finally:
            dkim_shortcuts.install()
    return run


def profile(label, function, count):
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [function() for _ in range(count)])
    print(f"\n--- cProfile, {label}, {count} signatures, by own time ---")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(8)


def main(count, with_profile):
    prepared = PreparedMessage(subject="Весенняя распродажа для {{ full_name }}",
                               body="<p>Здравствуйте, {{ full_name }}! Наши новости и предложения недели.</p>" * 12,
                               from_email="News <news@example.com>", site_url="https://example.com", run_id=1)
    recipient = Recipient(1, 1, "ivan@example.org", "Иван Петров", False, 0)
    date = formatdate()
    message = prepared.build(recipient, date)
    key = dkim.load_key("example.com", "bench", dkim.generate_key())
    digest = hashlib.sha256(message)
    parsed = dkim_rsa._dkimpy_parse_pem_private_key(key.private_key)
    load = os.getloadavg()
    print(f"message size: {len(message)} bytes; key: RSA {key.signing_key.bits}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {count} signatures per line (slow path: "
          f"{max(count // 10, 20)})")
    build = measure(lambda: prepared.build(recipient, date), count)
    line("build (reference)", *build)
    fast = measure(lambda: dkim.sign(message, key), count)
    line("DKIM sign: dkimpy + OpenSSL RSA (now)", *fast)
    line("DKIM sign: the same without the shortcuts", *measure(without_shortcuts(lambda: dkim.sign(message, key)), count))
    slow_count = max(count // 10, 20)
    slow = measure(lambda: dkimpy_alone(message, key), slow_count)
    line("DKIM sign: dkimpy alone (before)", *slow)
    openssl_rsa = measure(lambda: key.signing_key.sign(digest), count)
    line("  part: RSA by OpenSSL", *openssl_rsa)
    line("  part: RSA by dkimpy (pure Python)",
         *measure(lambda: dkim_rsa._dkimpy_rsassa_pkcs1_v1_5_sign(digest, parsed), slow_count))
    line("  part: dkimpy's PEM parse (was per message)",
         *measure(lambda: dkim_rsa._dkimpy_parse_pem_private_key(key.private_key), count))
    line("  part: everything but RSA (fast path − RSA)", fast[0] - openssl_rsa[0], fast[1] - openssl_rsa[1])
    print(f"speed-up: {slow[1] / fast[1]:.1f}× (CPU), {slow[0] / fast[0]:.1f}× (wall); "
          f"signing now costs {fast[1] / build[1]:.1f}× the build (CPU)")
    if with_profile:
        profile("dkimpy alone (before)", lambda: dkimpy_alone(message, key), slow_count)
        profile("dkimpy + OpenSSL RSA (now)", lambda: dkim.sign(message, key), count)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(arguments[0]) if arguments else 500, "--profile" in sys.argv)
