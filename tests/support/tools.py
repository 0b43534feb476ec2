"""Tests that need an installed tool: skipped on a machine without it, FAILED under ``CI=true``.

scripts/install.sh installs every tool and data package the suite uses, so in CI a
missing one is a broken install, not a reason to pass. A developer's machine may lack
one; there the test is skipped, with the reason in pytest's summary (``-ra``).

Use :func:`require` / :func:`require_tool` inside a test or fixture, or the
``@requires(available, what)`` mark, applied before the test runs by the two hooks below
(tests/conftest.py imports them).
"""

from __future__ import annotations

import os
import shutil

import pytest

MARK = "requires"


def under_ci() -> bool:
    """True in CI (``CI=true``, as CI runners set it): missing tools fail there."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(available: object, what: str) -> None:
    """Skip (locally) or fail (under CI) unless ``available`` is truthy."""
    if available:
        return
    if under_ci():
        pytest.fail(f"{what} is missing under CI=true (scripts/install.sh installs it)", pytrace=False)
    pytest.skip(f"{what} is missing (scripts/install.sh installs it; under CI=true this fails)")


def require_tool(name: str) -> str:
    """The path of executable ``name`` on PATH, else skip/fail as :func:`require` does."""
    path = shutil.which(name)
    require(path, f"`{name}`")
    assert path is not None
    return path


def requires(available: object, what: str) -> pytest.MarkDecorator:
    """Mark form of :func:`require`, checked when the test starts (not at collection)."""
    return getattr(pytest.mark, MARK)(bool(available), what)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}(available, what): skip without it locally, fail under CI=true")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Apply :func:`requires` marks: a missing tool never passes silently in CI."""
    for mark in item.iter_markers(MARK):
        require(*mark.args)
