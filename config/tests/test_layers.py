"""Imports between the project's packages run one way only (issue #10).

config (the project shell) sits on top, lib (helpers about no app) at the bottom:

    config -> content -> mailings -> backoffice (people) -> lib

A package may import those below it, never one above it, so no two packages import each
other. Tests and migrations are checked too, with the same rules: a test lives with the
lowest package that can see everything it uses (tests spanning every app are in config/tests).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "content", "mailings", "backoffice", "lib")
ALLOWED = {
    "config": {"content", "mailings", "backoffice", "lib"},
    "content": {"mailings", "backoffice", "lib"},
    "mailings": {"backoffice", "lib"},
    "backoffice": {"lib"},
    "lib": set(),
}


def imported_modules(source):
    """Absolute module names a module's source imports (relative imports stay inside)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from config import settings`` imports config.settings: name what is imported.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def violations(package, source):
    wrong = set()
    for module in imported_modules(source):
        top = module.split(".")[0]
        if top not in PACKAGES or top == package or top in ALLOWED[package]:
            continue
        wrong.add(module)
    return wrong


def project_modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


def test_the_rules_form_one_line_with_no_way_back():
    for package, below in ALLOWED.items():
        for other in below:
            assert package not in ALLOWED[other], f"{package} and {other} may import each other"


def test_the_check_sees_an_import_against_the_direction():
    assert violations("mailings", "from content.cache import invalidate_home_stats") == {
        "content.cache.invalidate_home_stats",
    }
    assert violations("backoffice", "def f():\n    import mailings.models\n") == {"mailings.models"}
    assert violations("lib", "from backoffice import permissions") == {"backoffice.permissions"}
    assert violations("mailings", "from config import settings") == {"config.settings"}
    assert violations("content", "from mailings.models import Mailing\nfrom lib import sanitize") == set()


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_a_package_above_its_own(package):
    found = {}
    for owner, path in project_modules():
        if owner != package:
            continue
        wrong = violations(package, path.read_text(encoding="utf-8"))
        if wrong:
            found[str(path.relative_to(ROOT))] = sorted(wrong)
    assert found == {}
