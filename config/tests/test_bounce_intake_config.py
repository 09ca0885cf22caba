"""BOUNCE_IMAP_*, ANYMAIL_WEBHOOK_SECRET and EMAIL_RELAY_PROVIDER: read once, failing closed."""
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import ConfigError, StrictEnv, anymail_settings, bounce_mailbox, relay_provider, webhook_secret

ROOT = Path(__file__).resolve().parents[2]
IMAP_VARIABLES = ("BOUNCE_IMAP_HOST", "BOUNCE_IMAP_PORT", "BOUNCE_IMAP_USER", "BOUNCE_IMAP_PASSWORD",
                  "BOUNCE_IMAP_FOLDER", "BOUNCE_IMAP_SECURITY", "BOUNCE_IMAP_POLL_MINUTES", "BOUNCE_IMAP_TIMEOUT",
                  "BOUNCE_IMAP_BATCH", "BOUNCE_IMAP_UNREADABLE_FOLDER")


def env_with(monkeypatch, **variables):
    for name in (*IMAP_VARIABLES, "ANYMAIL_WEBHOOK_SECRET", "EMAIL_RELAY_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return StrictEnv()


def test_no_host_means_no_polling(monkeypatch):
    assert bounce_mailbox(env_with(monkeypatch, BOUNCE_IMAP_USER="u")) is None


def test_a_mailbox_is_read_with_its_defaults(monkeypatch):
    mailbox = bounce_mailbox(env_with(monkeypatch, BOUNCE_IMAP_HOST="imap.example.com", BOUNCE_IMAP_USER="bounces",
                                      BOUNCE_IMAP_PASSWORD="s3cret-password"))
    assert (mailbox.host, mailbox.port, mailbox.security, mailbox.folder, mailbox.poll_minutes) == (
        "imap.example.com", 993, "ssl", "INBOX", 1)
    assert "s3cret-password" not in repr(mailbox)


def test_starttls_defaults_to_port_143(monkeypatch):
    mailbox = bounce_mailbox(env_with(monkeypatch, BOUNCE_IMAP_HOST="imap.example.com", BOUNCE_IMAP_USER="u",
                                      BOUNCE_IMAP_PASSWORD="p", BOUNCE_IMAP_SECURITY="STARTTLS",
                                      BOUNCE_IMAP_POLL_MINUTES="5"))
    assert (mailbox.port, mailbox.security, mailbox.poll_minutes) == (143, "starttls", 5)


BASE = {"BOUNCE_IMAP_HOST": "imap.example.com", "BOUNCE_IMAP_USER": "u", "BOUNCE_IMAP_PASSWORD": "p"}


@pytest.mark.parametrize(("variables", "variable", "problem"), [
    ({**BASE, "BOUNCE_IMAP_USER": ""}, "BOUNCE_IMAP_USER", "required"),
    ({**BASE, "BOUNCE_IMAP_PASSWORD": ""}, "BOUNCE_IMAP_PASSWORD", "required"),
    ({**BASE, "BOUNCE_IMAP_SECURITY": "tls"}, "BOUNCE_IMAP_SECURITY", "expected ssl, starttls or none"),
    ({**BASE, "BOUNCE_IMAP_SECURITY": "none"}, "BOUNCE_IMAP_SECURITY", "loopback host only"),
    ({**BASE, "BOUNCE_IMAP_PORT": "99999"}, "BOUNCE_IMAP_PORT", "up to 65535"),
    ({**BASE, "BOUNCE_IMAP_PORT": "imap"}, "BOUNCE_IMAP_PORT", "whole number"),
    ({**BASE, "BOUNCE_IMAP_POLL_MINUTES": "0"}, "BOUNCE_IMAP_POLL_MINUTES", "at least 1"),
    ({**BASE, "BOUNCE_IMAP_TIMEOUT": "0"}, "BOUNCE_IMAP_TIMEOUT", "above 0"),
    ({**BASE, "BOUNCE_IMAP_UNREADABLE_FOLDER": "INBOX"}, "BOUNCE_IMAP_UNREADABLE_FOLDER", "must differ"),
])
def test_a_bad_mailbox_configuration_names_the_variable(monkeypatch, variables, variable, problem):
    with pytest.raises(ConfigError) as raised:
        bounce_mailbox(env_with(monkeypatch, **variables))
    assert raised.value.variable == variable
    assert problem in str(raised.value)


def test_no_tls_is_allowed_on_loopback(monkeypatch):
    mailbox = bounce_mailbox(env_with(monkeypatch, **{**BASE, "BOUNCE_IMAP_HOST": "127.0.0.1",
                                                      "BOUNCE_IMAP_SECURITY": "none"}))
    assert (mailbox.security, mailbox.port) == ("none", 143)


@pytest.mark.parametrize("secret", ["no-colon-at-all-here-long", "user:short", ":a-password-long-enough-1234"])
def test_a_weak_or_malformed_webhook_secret_stops_start_up(monkeypatch, secret):
    with pytest.raises(ConfigError) as raised:
        webhook_secret(env_with(monkeypatch, ANYMAIL_WEBHOOK_SECRET=secret))
    assert raised.value.variable == "ANYMAIL_WEBHOOK_SECRET"
    assert secret not in str(raised.value)  # never echoed


def test_a_webhook_secret_is_read_and_none_means_no_webhooks(monkeypatch):
    assert webhook_secret(env_with(monkeypatch)) == ""
    assert webhook_secret(env_with(monkeypatch, ANYMAIL_WEBHOOK_SECRET="esp:0123456789abcdefXYZ")) == (
        "esp:0123456789abcdefXYZ")


def test_an_unknown_relay_provider_stops_start_up(monkeypatch):
    assert relay_provider(env_with(monkeypatch, EMAIL_RELAY_PROVIDER="Mailgun")) == "mailgun"
    with pytest.raises(ConfigError) as raised:
        relay_provider(env_with(monkeypatch, EMAIL_RELAY_PROVIDER="sendgrid"))
    assert raised.value.variable == "EMAIL_RELAY_PROVIDER"


def test_the_process_refuses_to_start_with_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "a-key-for-this-test",
           "BOUNCE_IMAP_HOST": "imap.example.com", "BOUNCE_IMAP_USER": "bounces", "BOUNCE_IMAP_PASSWORD": "hunter2-pw",
           "BOUNCE_IMAP_SECURITY": "none"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("Configuration error: BOUNCE_IMAP_SECURITY: none (no TLS)")
    assert "hunter2-pw" not in result.stderr + result.stdout


def test_mailguns_signing_key_joins_the_anymail_settings_only_when_set(monkeypatch):
    monkeypatch.delenv("MAILGUN_WEBHOOK_SIGNING_KEY", raising=False)
    assert anymail_settings(env_with(monkeypatch)) == {"WEBHOOK_SECRET": ""}
    monkeypatch.setenv("MAILGUN_WEBHOOK_SIGNING_KEY", "key-123")
    assert anymail_settings(env_with(monkeypatch, ANYMAIL_WEBHOOK_SECRET="esp:0123456789abcdefXYZ")) == {
        "WEBHOOK_SECRET": "esp:0123456789abcdefXYZ", "MAILGUN_WEBHOOK_SIGNING_KEY": "key-123"}
