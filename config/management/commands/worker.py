"""The worker of `make run`: django-q2's qcluster, stopped in order on Ctrl-C.

honcho stops a process by sending SIGTERM to its whole process group. qcluster's helper
processes (sentinel, workers, monitor, pusher) share that group: the sentinel dies on the spot,
the others are left waiting on their queues, and five seconds later honcho kills them all with
SIGKILL. Run in a session of its own, qcluster gets the signal in its main process only, which
stops the cluster in order (pusher, workers, monitor) in a second or two.
"""
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run qcluster in its own process group; SIGTERM or SIGINT stops it in order."
    requires_system_checks = []

    def handle(self, **options):
        cluster = subprocess.Popen(
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"], start_new_session=True
        )

        def stop(signum, frame):
            cluster.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        returncode = cluster.wait()
        if returncode not in (0, -signal.SIGTERM):
            sys.exit(returncode)
