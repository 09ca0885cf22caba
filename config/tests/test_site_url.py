"""E-mail links follow the address `make run` serves (issue #13, item 1)."""
import os
import subprocess
import sys
from pathlib import Path

from honcho.environ import expand_processes, parse_procfile

ROOT = Path(__file__).resolve().parents[2]
# Prints the links a worker writes: verification, unsubscribe (also List-Unsubscribe).
PRINT_LINKS = (
    "from django.conf import settings; "
    "from mailings.rendering import PreparedMessage; "
    "import re; from backoffice.accounts.mail import VERIFY, build_message; "
    "from backoffice.models import User; "
    "m = PreparedMessage(subject='s', body='b', from_email='a@example.com', site_url=settings.SITE_URL, run_id=1); "
    "print(settings.SITE_URL); print(m.unsubscribe_url(1)); "
    "print(re.search(r'http[^ \\n]*/verify/[^ \\n]*', build_message(VERIFY, User(pk=1, email='x@example.com')).body)[0])"
)


def environment(**extra):
    """The caller's environment without anything that names the site or the port."""
    drop = {"SITE_URL", "HOST", "PORT", "WEB_PORT", "DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {key: value for key, value in os.environ.items() if key not in drop}
    # Empty counts as unset, and keeps a developer's .env SITE_URL from filling the gap.
    return {**clean, "SITE_URL": "", **extra}


def printed_links(command, env):
    result = subprocess.run(command, cwd=ROOT, env=env, shell=isinstance(command, str),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_without_site_url_links_use_the_port_make_run_serves():
    links = printed_links([sys.executable, "manage.py", "shell", "-v", "0", "-c", PRINT_LINKS],
                          environment(HOST="127.0.0.1", PORT="8123"))
    assert links[0] == "http://127.0.0.1:8123"
    assert all(link.startswith("http://127.0.0.1:8123/") for link in links[1:]), links


def test_an_explicit_site_url_wins_over_the_port():
    links = printed_links([sys.executable, "manage.py", "shell", "-v", "0", "-c", PRINT_LINKS],
                          environment(PORT="8123", SITE_URL="https://mail.example.com"))
    assert links[0] == "https://mail.example.com"


def test_every_procfile_process_sees_the_web_port_honcho_renumbers():
    """honcho gives each process its own PORT (8123, 8223, 8323): the worker sends the e-mails."""
    procfile = parse_procfile((ROOT / "Procfile").read_text())
    make_run_env = {"HOST": "127.0.0.1", "PORT": "8123", "WEB_PORT": "8123"}
    for process in expand_processes(procfile.processes, env=make_run_env, port=8123):
        if process.name.startswith("web"):
            continue  # runserver serves $PORT itself
        prefix = process.cmd.split("manage.py")[0]
        command = f"{prefix} manage.py shell -v 0 -c \"{PRINT_LINKS}\""
        links = printed_links(command, environment(**process.env))
        assert links[0] == "http://127.0.0.1:8123", (process.name, process.env["PORT"], links)
