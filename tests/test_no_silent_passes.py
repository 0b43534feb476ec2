"""support.tools: a check whose tool is missing is skipped locally and FAILS under CI=true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.stack import REPO
from support.tools import require, require_tool

TESTS = REPO / "tests"
#: Skips that are about the machine's resources, not a missing tool (allowed as they are).
RESOURCE_SKIPS = {("test_zipstream.py", "needs {total / GIB:.1f} GiB free")}


def test_require_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="frobnicator"):
        require(None, "frobnicator")
    require("/usr/bin/true", "true")  # present: nothing happens


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_require_fails_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="frobnicator is missing under CI=true"):
        require(False, "frobnicator")
    with pytest.raises(pytest.fail.Exception, match="no-such-tool-here"):
        require_tool("no-such-tool-here")
    assert require_tool("sh").endswith("/sh")


def _run_marked_test(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """A throwaway pytest run of one test marked ``requires(False, ...)``, with our hooks."""
    (tmp_path / "conftest.py").write_text("from support.tools import pytest_configure, pytest_runtest_setup\n")
    (tmp_path / "test_marked.py").write_text(
        textwrap.dedent(
            """
            from support.tools import requires

            @requires(False, "the frobnicator")
            def test_needs_the_frobnicator():
                assert True
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(TESTS)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def test_requires_mark_fails_the_run_under_ci(tmp_path: Path) -> None:
    local = _run_marked_test(tmp_path, None)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout
    ci = _run_marked_test(tmp_path, "true")
    assert ci.returncode == 1 and "1 error" in ci.stdout, ci.stdout  # failed in setup
    assert "the frobnicator is missing under CI=true" in ci.stdout


def test_no_test_skips_around_the_helper() -> None:
    """Every tool check goes through support.tools (bare skips would pass silently in CI)."""
    pattern = re.compile(r"pytest\.skip\(|pytest\.mark\.skipif|importorskip\(|pytest\.mark\.skip\b")
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if "node_modules" in path.parts or path == TESTS / "support" / "tools.py" or path == Path(__file__):
            continue
        for line in path.read_text().splitlines():
            if pattern.search(line) and not any(path.name == f and s in line for f, s in RESOURCE_SKIPS):
                found.append(f"{path.relative_to(REPO)}: {line.strip()}")
    assert not found, "use support.tools.require/requires instead:\n" + "\n".join(found)


def test_install_script_installs_the_tools_tests_require() -> None:
    """What the suite requires under CI comes from scripts/install.sh on a clean machine."""
    text = (REPO / "scripts" / "install.sh").read_text()
    match = re.search(r"^APT_PACKAGES=\(([^)]*)\)", text, re.M)
    assert match, "scripts/install.sh lists its Debian packages in APT_PACKAGES=(...)"
    packages = set(match[1].split())
    needed = {"ffmpeg", "unzip", "zip", "libimage-exiftool-perl", "strace", "chromium", "libjxl-testdata"}
    assert needed <= packages, needed - packages
