"""Driving Debian's Chromium through Playwright: where it is, logging in, screenshots.

The ``browser_page`` fixture (conftest.py) launches the browser; these helpers act on its page.
"""
import os

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS_DIR = "test-artifacts"  # kept by CI as artifacts
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def screenshot(page, name):
    """Keep a screenshot of the current page as a test artifact."""
    os.makedirs(ARTIFACTS_DIR, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS_DIR, f"{name}.png"), full_page=True)


def browser_login(page, email, password):
    """Log in through the admin's login form, as a person would."""
    page.goto(page.base_url + "/admin/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
