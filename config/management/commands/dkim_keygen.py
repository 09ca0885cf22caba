import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from lib import dkim


class Command(BaseCommand):
    help = "Make a DKIM key pair: the private key goes to a file (mode 600), the DNS TXT record to publish is printed."

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True, help="the signing domain (d=), the From domain")
        parser.add_argument("--selector", required=True, help="the selector (s=), e.g. mail2026")
        parser.add_argument("--bits", type=int, default=dkim.DEFAULT_KEY_BITS)
        parser.add_argument("--out", help="private key file (default: var/dkim/<selector>.<domain>.pem)")

    def handle(self, domain, selector, bits, out, **options):
        if bits < dkim.MIN_KEY_BITS:
            raise CommandError(_("A DKIM key needs at least %(bits)d bits.") % {"bits": dkim.MIN_KEY_BITS})
        path = Path(out) if out else settings.VAR_DIR / "dkim" / f"{selector}.{domain}.pem"
        if path.exists():
            # Overwriting would silently invalidate the key already published in DNS.
            raise CommandError(_("%(path)s already exists; choose another --out or selector.") % {"path": path})
        pem = dkim.generate_key(bits)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created with mode 600 from the start: the key is never readable by others, not even briefly.
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            file.write(pem)
        record = dkim.txt_record(selector, domain, dkim.public_key_base64(pem))
        lines = [
            _("Private key written to %(path)s (keep it secret).") % {"path": path},
            _("Publish this TXT record in the DNS zone of %(domain)s:") % {"domain": domain},
            "",
            record,
            "",
            _("Then set DKIM_DOMAIN=%(domain)s DKIM_SELECTOR=%(selector)s DKIM_PRIVATE_KEY_FILE=%(path)s")
            % {"domain": domain, "selector": selector, "path": path.resolve()},
        ]
        self.stdout.write("\n".join(lines))
