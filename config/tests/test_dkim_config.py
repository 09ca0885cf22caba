"""DKIM configuration fails closed, naming the variable and never showing the key."""
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from config.env import ConfigError, StrictEnv, dkim_key
from lib import dkim

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pem():
    return dkim.generate_key()


def read(monkeypatch, **variables):
    for name in ("DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_PRIVATE_KEY_FILE", "DKIM_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return dkim_key(StrictEnv())


def test_nothing_set_means_no_signing(monkeypatch):
    assert read(monkeypatch) is None


def test_a_key_file_is_loaded(monkeypatch, tmp_path, pem):
    (tmp_path / "k.pem").write_bytes(pem)
    key = read(monkeypatch, DKIM_DOMAIN="Example.com", DKIM_SELECTOR="s1", DKIM_PRIVATE_KEY_FILE=str(tmp_path / "k.pem"))
    assert (key.domain, key.selector, key.private_key) == ("example.com", "s1", pem)


def test_a_key_in_one_line_with_escaped_line_ends_is_loaded(monkeypatch, pem):
    one_line = pem.decode().replace("\n", "\\n")
    key = read(monkeypatch, DKIM_DOMAIN="example.com", DKIM_SELECTOR="s1", DKIM_PRIVATE_KEY=one_line)
    assert key.private_key == pem


@pytest.mark.parametrize(("variables", "variable", "problem"), [
    ({"DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY": "x"}, "DKIM_DOMAIN", "required"),
    ({"DKIM_DOMAIN": "example.com", "DKIM_PRIVATE_KEY": "x"}, "DKIM_SELECTOR", "required"),
    ({"DKIM_DOMAIN": "example.com", "DKIM_SELECTOR": "s1"}, "DKIM_PRIVATE_KEY_FILE", "required"),
    ({"DKIM_DOMAIN": "example.com", "DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY": "garbage"},
     "DKIM_PRIVATE_KEY", "not a PEM-encoded RSA private key"),
    ({"DKIM_DOMAIN": "example.com", "DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY_FILE": "/nonexistent/k.pem"},
     "DKIM_PRIVATE_KEY_FILE", "cannot read '/nonexistent/k.pem'"),
])
def test_a_bad_configuration_names_the_variable(monkeypatch, variables, variable, problem):
    with pytest.raises(ConfigError) as raised:
        read(monkeypatch, **variables)
    assert raised.value.variable == variable
    assert problem in str(raised.value)


def test_a_key_that_does_not_parse_stops_start_up_with_one_line(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGJ1dCBicm9rZW4=\n-----END PRIVATE KEY-----\n")
    env = {"PATH": "/usr/bin:/bin", "DKIM_DOMAIN": "example.com", "DKIM_SELECTOR": "s1",
           "DKIM_PRIVATE_KEY_FILE": str(bad), "DJANGO_SETTINGS_MODULE": "config.settings",
           "SECRET_KEY": "a-key-for-this-test-only"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "Configuration error: DKIM_PRIVATE_KEY_FILE: not a PEM-encoded RSA private key\n"
    assert "c2VjcmV0" not in result.stderr + result.stdout


def test_keygen_writes_a_private_key_only_its_owner_reads_and_prints_the_record(tmp_path, capsys, english):
    out = tmp_path / "s1.pem"
    call_command("dkim_keygen", "--domain", "example.com", "--selector", "s1", "--out", str(out))
    printed = capsys.readouterr().out
    key = dkim.load_key("example.com", "s1", out.read_bytes())
    assert out.stat().st_mode & 0o777 == 0o600
    assert dkim.txt_record("s1", "example.com", dkim.public_key_base64(key.private_key)) in printed
    assert out.read_bytes().splitlines()[1].decode() not in printed


def test_a_dkim_domain_not_aligned_with_the_from_domain_is_reported(settings):
    from config.checks import check_dkim_alignment
    from lib import dkim as dkim_lib

    settings.DKIM_KEY = dkim_lib.DkimKey(domain="example.com", selector="s", private_key=b"-")
    settings.DEFAULT_FROM_EMAIL = "Рассылки <news@mail.example.com>"
    assert check_dkim_alignment() == []  # a parent domain aligns (relaxed DMARC)

    settings.DEFAULT_FROM_EMAIL = "news@other.example.net"
    [warning] = check_dkim_alignment()
    assert warning.id == "backoffice.W002" and "other.example.net" in warning.msg
