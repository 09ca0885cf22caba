"""DNS_RESOLVER and SPAMD_ADDRESS are read strictly (config/env.py): a bad value stops the start naming it."""
import pytest

from config.env import ConfigError, StrictEnv, dns_resolver, spamd_address


def env_with(**variables):
    env = StrictEnv()
    env.ENVIRON = variables
    return env


@pytest.mark.parametrize("value, expected", [
    ("", ""), ("127.0.0.1:5353", "127.0.0.1:5353"), ("8.8.8.8", "8.8.8.8:53"), ("[::1]:53", "[::1]:53"),
])
def test_the_dns_resolver_setting_is_read(value, expected):
    assert dns_resolver(env_with(DNS_RESOLVER=value)) == expected


@pytest.mark.parametrize("value", ["dns.example.com", "127.0.0.1:0", "127.0.0.1:port", "1.2.3:53"])
def test_a_bad_dns_resolver_is_refused_naming_the_variable(value):
    with pytest.raises(ConfigError, match="^DNS_RESOLVER: "):
        dns_resolver(env_with(DNS_RESOLVER=value))


@pytest.mark.parametrize("value, expected", [("", ""), ("127.0.0.1:783", "127.0.0.1:783"), ("spamd:783", "spamd:783")])
def test_the_spamd_address_is_read(value, expected):
    assert spamd_address(env_with(SPAMD_ADDRESS=value)) == expected


@pytest.mark.parametrize("value", ["127.0.0.1", "spamd:", "spamd:port", "127.0.0.1:70000", ":783"])
def test_a_bad_spamd_address_is_refused_naming_the_variable(value):
    with pytest.raises(ConfigError, match="^SPAMD_ADDRESS: cannot understand"):
        spamd_address(env_with(SPAMD_ADDRESS=value))
