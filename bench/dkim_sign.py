"""Cost of DKIM signing per message, beside the cost of building the message, in one run.

    .venv/bin/python bench/dkim_sign.py [N]

Builds a typical ~5 KB mailing message with mailings.rendering.PreparedMessage (the send
path's builder), then times N builds and N signatures (RSA-2048, relaxed/relaxed) of it.
"""
import os
import sys
import time
from email.utils import formatdate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from lib import dkim  # noqa: E402
from mailings.rendering import PreparedMessage, Recipient  # noqa: E402


def rate(label, function, count):
    start = time.perf_counter()
    for _ in range(count):
        function()
    elapsed = time.perf_counter() - start
    print(f"{label:<32} {count / elapsed:>9.0f} messages/s  ({elapsed / count * 1000:.2f} ms each)")


def main(count):
    prepared = PreparedMessage(subject="Весенняя распродажа для {{ full_name }}",
                               body="<p>Здравствуйте, {{ full_name }}! Наши новости и предложения недели.</p>" * 12,
                               from_email="News <news@example.com>", site_url="https://example.com", run_id=1)
    recipient = Recipient(1, 1, "ivan@example.org", "Иван Петров", False, 0)
    date = formatdate()
    message = prepared.build(recipient, date)
    key = dkim.load_key("example.com", "bench", dkim.generate_key())
    print(f"message size: {len(message)} bytes; key: RSA {dkim.DEFAULT_KEY_BITS}")
    rate("build (reference)", lambda: prepared.build(recipient, date), count)
    rate("DKIM sign", lambda: dkim.sign(message, key), count)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
