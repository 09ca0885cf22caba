"""Strict reading of booleans and numbers from the environment (config/env.py)."""
import ast
from collections import Counter

import pytest

from config.env import ConfigError, StrictEnv, domain_rate_limits
from config.tests.test_config import ROOT, manage


def env_with(**variables):
    env = StrictEnv()
    env.ENVIRON = variables
    return env


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "Yes", "on", " On "])
def test_words_for_true(word):
    assert env_with(HTTPS=word).bool("HTTPS", default=False) is True


@pytest.mark.parametrize("word", ["0", "false", "False", "NO", "off"])
def test_words_for_false(word):
    assert env_with(HTTPS=word).bool("HTTPS", default=True) is False


@pytest.mark.parametrize("word", ["ture", "y", "ok", "2", "enabled"])
def test_any_other_word_is_refused_naming_the_variable(word):
    with pytest.raises(ConfigError) as error:
        env_with(HTTPS=word).bool("HTTPS", default=False)
    assert str(error.value) == f"HTTPS: expected 1/0 (got {word!r})"


def test_an_unset_or_empty_variable_takes_the_default():
    assert env_with().bool("HTTPS", default=True) is True
    assert env_with(HTTPS="").bool("HTTPS", default=True) is True
    assert env_with().int("Q_WORKERS", default=2) == 2
    assert env_with(Q_WORKERS=" ").int("Q_WORKERS", default=2) == 2
    assert env_with().float("EMAIL_TIMEOUT", default=10) == 10


def test_numbers_are_read_and_anything_else_is_refused():
    assert env_with(Q_WORKERS="4").int("Q_WORKERS", default=2) == 4
    assert env_with(EMAIL_TIMEOUT="2.5").float("EMAIL_TIMEOUT", default=10) == 2.5
    with pytest.raises(ConfigError, match=r"^Q_WORKERS: expected a whole number \(got '1\.5'\)$"):
        env_with(Q_WORKERS="1.5").int("Q_WORKERS", default=2)
    with pytest.raises(ConfigError, match=r"^EMAIL_TIMEOUT: expected a number \(got 'ten'\)$"):
        env_with(EMAIL_TIMEOUT="ten").float("EMAIL_TIMEOUT", default=10)


@pytest.mark.parametrize(
    "variable, value, line",
    [
        ("HTTPS", "ture", "Configuration error: HTTPS: expected 1/0 (got 'ture')"),
        ("DEBUG", "maybe", "Configuration error: DEBUG: expected 1/0 (got 'maybe')"),
        ("Q_WORKERS", "two", "Configuration error: Q_WORKERS: expected a whole number (got 'two')"),
        ("MAILING_RATE_LIMIT", "fast", "Configuration error: MAILING_RATE_LIMIT: expected a number (got 'fast')"),
        ("SUBSCRIPTION_RATE_LIMIT_PER_IP", "0",
         "Configuration error: SUBSCRIPTION_RATE_LIMIT_PER_IP: expected a whole number of at least 1 (got 0)"),
        ("SUBSCRIPTION_MIN_FILL_SECONDS", "3s",
         "Configuration error: SUBSCRIPTION_MIN_FILL_SECONDS: expected a whole number (got '3s')"),
    ],
)
def test_a_bad_value_stops_manage_py_with_one_line(variable, value, line):
    result = manage("check", **{variable: value})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [line]


def test_manage_py_reads_a_word_for_true(tmp_path):
    result = manage(
        "shell", "-c", "from django.conf import settings; print(settings.HTTPS, settings.SESSION_COOKIE_SECURE)",
        HTTPS="On", CACHE_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True True"


def test_the_subscription_settings_are_read_from_the_environment(tmp_path):
    result = manage(
        "shell", "-c", "from django.conf import settings as s; "
        "print(s.SUBSCRIPTION_CONFIRM_MAX_AGE, s.SUBSCRIPTION_MIN_FILL_SECONDS, sorted(s.SUBSCRIPTION_RATE_LIMITS.items()))",
        SUBSCRIPTION_CONFIRM_MAX_AGE="3600", SUBSCRIPTION_MIN_FILL_SECONDS="0",
        SUBSCRIPTION_RATE_LIMIT_PER_ADDRESS="5", SUBSCRIPTION_RATE_LIMIT_PER_IP="50", CACHE_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "3600 0 [('address', 5), ('ip', 50)]"


def test_every_variable_is_read_once_in_the_settings():
    tree = ast.parse((ROOT / "config" / "settings.py").read_text(encoding="utf-8"))
    reads = Counter(
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "env"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    )
    assert reads and {name: count for name, count in reads.items() if count > 1} == {}


@pytest.mark.parametrize("value", ["gmail.com=20, mail.ru=ten", "gmail.com", "=5", "gmail.com=0", "a@b.ru=3"])
def test_a_bad_domain_rate_limit_is_refused_naming_the_variable(value):
    with pytest.raises(ConfigError, match="^MAILING_DOMAIN_RATE_LIMITS: cannot understand"):
        domain_rate_limits(env_with(MAILING_DOMAIN_RATE_LIMITS=value))


def test_domain_rate_limits_are_read_per_lowercased_domain():
    assert domain_rate_limits(env_with(MAILING_DOMAIN_RATE_LIMITS="Gmail.com=20, mail.ru=0.5,")) == {
        "gmail.com": 20.0, "mail.ru": 0.5,
    }
    assert domain_rate_limits(env_with()) == {}
