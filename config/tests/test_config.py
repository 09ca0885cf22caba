"""Configuration from the environment: production checks, and bad values as one clear line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x9!k2#pq7@Lm4$vz8&Rw1^ty6*Hb3(Nc5)Jd0_Fe-Gs+Ua=Ki;Ol:Pm,Qn.Yo/Zr",
    "HTTPS": "1",
    "ALLOWED_HOSTS": "mail.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://mail.example.com",
    "SITE_URL": "https://mail.example.com",
}


def manage(*args, **env):
    clean_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", CACHE_DIR=str(tmp_path), **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def clean_environment(**env):
    """Only what a process needs to run: no SECRET_KEY or DEBUG inherited from the test run."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", **env}


def test_without_a_secret_key_the_service_refuses_to_start(tmp_path):
    """DEBUG off and no SECRET_KEY: one line naming the variable, exit 2, never the public key."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=clean_environment(DEBUG="0", CACHE_DIR=str(tmp_path)),
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Configuration error: SECRET_KEY: ")


def test_an_empty_secret_key_is_no_secret_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=clean_environment(SECRET_KEY="", CACHE_DIR=str(tmp_path)),
    )
    assert result.returncode == 2
    assert result.stderr.startswith("Configuration error: SECRET_KEY: ")


def test_a_development_run_starts_on_the_development_key_and_deploy_check_warns(tmp_path):
    """DEBUG=1 (what `make run` sets) starts without a key; `check --deploy` still says so."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
        capture_output=True, text=True, timeout=120,
        env=clean_environment(DEBUG="1", CACHE_DIR=str(tmp_path)),
    )
    assert result.returncode != 0
    assert "SECRET_KEY: the built-in development key is in use." in result.stderr


def test_every_development_process_of_make_run_gets_debug():
    """`make run` starts migrate, load_demo, welcome, procfile_processes and honcho's processes."""
    result = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=clean_environment(),
    )
    commands = [line for line in result.stdout.splitlines() if "manage.py" in line or "honcho" in line]
    assert len(commands) >= 4, result.stdout + result.stderr
    for command in commands:
        assert "DEBUG=${DEBUG:-1}" in command, command
        for inner in command.split("$(")[1:]:
            assert inner.startswith("DEBUG=${DEBUG:-1}"), command


@pytest.mark.parametrize("url", ["postgres//nohost", "mysql-ish:/x", "not a url at all"])
def test_a_malformed_database_url_gives_one_clear_line(url):
    result = manage("check", DATABASE_URL=url)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Configuration error: DATABASE_URL")


def test_an_unreachable_redis_at_start_names_the_variable():
    result = manage("check", REDIS_URL="redis://127.0.0.1:9/0")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "REDIS_URL: cannot reach Redis" in result.stderr


def test_a_malformed_trusted_proxy_names_the_variable(monkeypatch):
    import environ

    from config.env import ConfigError, trusted_proxies

    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.1,10.0.0.0/33")
    with pytest.raises(ConfigError, match="^TRUSTED_PROXIES: '10.0.0.0/33' is no IP address"):
        trusted_proxies(environ.Env())


def test_the_mx_check_is_off_by_default_and_a_misspelt_switch_stops_the_start():
    clean_env = {k: v for k, v in os.environ.items() if k != "EMAIL_CHECK_MX"}
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.conf import settings; print(settings.EMAIL_CHECK_MX)"],
        cwd=ROOT, env=clean_env, capture_output=True, text=True, timeout=120,
    )
    assert shown.stdout.strip().splitlines()[-1] == "False", shown.stdout + shown.stderr

    result = manage("check", EMAIL_CHECK_MX="ture")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == ["Configuration error: EMAIL_CHECK_MX: expected 1/0 (got 'ture')"]
