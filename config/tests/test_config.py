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


def test_check_deploy_warns_about_the_development_secret_key(tmp_path):
    env = {**PRODUCTION, "SECRET_KEY": ""}
    env.pop("SECRET_KEY")
    result = manage("check", "--deploy", "--fail-level", "WARNING", CACHE_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


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
