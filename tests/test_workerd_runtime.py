"""The offline Cloudflare runtime's preparation fails loudly on anything it was not built for."""

from __future__ import annotations

import sys

import pytest
from support.stack import REPO

sys.path.insert(0, str(REPO / "scripts" / "workerd"))

import bundle
import runtime


def test_pins_match_what_is_installed():
    binary = runtime.check_pins()
    assert runtime.dev_pyodide_of(binary) == runtime.PYODIDE_VERSION
    lock = (REPO / "scripts" / "workerd" / "pyodide-dev" / "package.json").read_text()
    assert f'"pyodide": "{runtime.PYODIDE_VERSION}"' in lock
    package = (REPO / "package.json").read_text()
    assert f'"wrangler": "{runtime.WRANGLER_VERSION}"' in package  # exact, not a range


def test_a_workerd_mapping_dev_to_another_pyodide_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "workerd"
    fake.write_bytes(b"\0pythonWorkersDevPyodide\x00314.9.9\x00")
    assert runtime.dev_pyodide_of(fake) == "314.9.9"
    monkeypatch.setattr(runtime, "workerd_binary", lambda: fake)
    with pytest.raises(runtime.RuntimeMismatch, match=r"maps the 'dev' Python runtime to Pyodide 314\.9\.9"):
        runtime.check_pins()
    fake.write_bytes(b"no mapping here")
    with pytest.raises(runtime.RuntimeMismatch, match="cannot tell which Pyodide"):
        runtime.dev_pyodide_of(fake)


def test_every_patch_site_is_found_in_the_pinned_pyodide_and_a_missing_one_is_named():
    glue = (runtime.install_pyodide() / "pyodide.asm.mjs").read_text()
    patched = bundle.patch_glue(glue)
    assert patched.startswith("import{") and "export{_createPyodideModule}" in patched
    assert "eval(func)" not in patched and "Date.now" not in patched
    broken = glue.replace("function saveState(){", "function saveState2(){")
    with pytest.raises(bundle.PatchError, match="'stack switch save': expected 1 site"):
        bundle.patch_glue(broken)
