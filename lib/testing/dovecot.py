"""A real IMAP server on loopback for the tests: Debian's dovecot (``dovecot-imapd``), started
as an unprivileged process with its own throw-away configuration.

One mailbox user, its password in a passwd-file, its mail in a Maildir under a temporary
directory, IMAP without TLS on 127.0.0.1 and a free port. Run by root (CI), dovecot is
started as ``nobody``, which owns the directory; run by anyone else, as that user.
``DovecotServer.start()`` raises ``DovecotUnavailable`` (the tests skip, saying why) when
the binary is missing or the server does not come up.
"""
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {group}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:{root}/mail/%u
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed here, or would not start (the message says which)."""


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DovecotServer:
    def __init__(self, user="bounces", password="bounce-mailbox-password"):
        self.user, self.password = user, password
        self.host, self.port = "127.0.0.1", None
        self.root = None
        self.process = None

    def start(self, timeout=15):
        if not os.access(DOVECOT, os.X_OK):
            raise DovecotUnavailable(f"{DOVECOT} is missing (apt-get install dovecot-imapd)")
        run_as = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(run_as.pw_gid).gr_name
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.port = _free_port()
        for name in ("run", "state", "mail", "home"):
            (self.root / name).mkdir()
        (self.root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        (self.root / "dovecot.conf").write_text(CONFIG.format(
            root=self.root, user=run_as.pw_name, group=group, uid=run_as.pw_uid, gid=run_as.pw_gid, port=self.port))
        if os.geteuid() == 0:
            for path in (self.root, *self.root.rglob("*")):
                os.chown(path, run_as.pw_uid, run_as.pw_gid)
        as_user = {"user": run_as.pw_uid, "group": run_as.pw_gid, "extra_groups": []} if os.geteuid() == 0 else {}
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **as_user,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        exited = self.process.poll() is not None
        problem = self.log() or (self.process.stderr.read().decode("utf-8", "replace") if exited else "")
        self.stop()
        raise DovecotUnavailable(f"dovecot did not start: {problem.strip()[-500:] or 'no answer on its port'}")

    def log(self):
        path = self.root / "dovecot.log" if self.root else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
