"""Ctrl-C stops `make run` cleanly: the worker ends in order, honcho sends no SIGKILL and make
reports no error (issue #13, item 17).

A terminal's Ctrl-C sends SIGINT to its whole foreground process group (make, its shell,
honcho); the test starts `make run` in a session of its own and does the same.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(path, texts, process, limit=90):
    """Until the log holds every text; the limit only ends a hung test, it is no threshold."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        log = path.read_text(errors="replace")
        if all(text in log for text in texts):
            return log
        time.sleep(0.2)
    raise AssertionError(path.read_text(errors="replace"))


def test_ctrl_c_stops_make_run_without_sigkill_or_error(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "SITE_URL")}
    env.update(DATABASE_URL=f"sqlite:///{database}", CACHE_DIR=str(tmp_path / "cache"),
               EMAIL_PORT=str(free_port()), LANGUAGE_CODE="en", PYTHONUNBUFFERED="1")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=300)
    log_path = tmp_path / "make-run.log"
    with open(log_path, "w") as log:
        # -o demo: the database is ready; make must not install or load the demo here.
        make = subprocess.Popen(["make", "-o", "demo", "run", f"PORT={free_port()}"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(log_path, ["Starting development server", "Q Cluster", "running."], make)
            os.killpg(make.pid, signal.SIGINT)
            returncode = make.wait(timeout=60)
        finally:
            if make.poll() is None:
                os.killpg(make.pid, signal.SIGKILL)
    output = log_path.read_text(errors="replace")
    assert "SIGKILL" not in output, output
    assert "has stopped" in output  # django-q's orderly stop, not a kill
    assert "Error 130" not in output and "Interrupt" not in output, output
    assert returncode == -signal.SIGINT  # make ends as Ctrl-C asks, silently
    leftover = subprocess.run(["pgrep", "-f", f"{database}"], capture_output=True, text=True).stdout
    assert leftover == ""
