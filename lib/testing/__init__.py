"""Helpers of the test suites that belong to no app (importable, unlike conftest.py)."""
