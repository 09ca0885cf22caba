"""Fixtures of the mailings tests: fast retries and the mailing builder as a fixture.

The builders live in mailings/tests/factories.py; ``make_mailing`` is also importable from
here for tests written before that module existed.
"""
import pytest

from mailings.tests.factories import make_mailing

__all__ = ["make_mailing"]


@pytest.fixture
def fast_retries(settings):
    """No sleeping between connection retries; a short SMTP timeout."""
    settings.MAILING_CONNECT_BACKOFF = 0
    settings.EMAIL_TIMEOUT = 1
    settings.MAILING_CONNECT_RETRIES = 3


@pytest.fixture
def mailing_factory():
    return make_mailing
