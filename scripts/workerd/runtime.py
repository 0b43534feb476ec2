#!/usr/bin/env python3
"""Prepare the Cloudflare runtime (workerd) to run the Python Worker offline.

workerd loads a Python Worker's interpreter (Pyodide: Emscripten glue, wasm, stdlib) from a
capnp "bundle" it normally downloads from a Cloudflare host and checks against a pinned
hash. Its experimental compat flag ``python_workers_development`` selects the bundle
version "dev", which workerd only reads from ``--pyodide-bundle-disk-cache-dir`` (no
download, no hash check). This script makes that directory and a ``workerd`` wrapper that
passes it, for Miniflare to spawn (``MINIFLARE_WORKERD_PATH``):

1. the workerd binary in node_modules must be the pinned one (``WORKERD_VERSION``);
2. the Pyodide version the binary maps "dev" to must be the pinned one (``PYODIDE_VERSION``);
3. npm ``pyodide@PYODIDE_VERSION`` is installed from ``scripts/workerd/pyodide-dev``'s lock
   file (exact version and integrity) into ``.tools/workerd``;
4. the bundle is written by :mod:`bundle` (each patch site must match an exact count);
5. the wrapper ``.tools/workerd/bin/workerd`` adds the cache-dir flags to ``serve``.

Any mismatch stops with a message saying what to change. Idempotent: a stamp records the
inputs of the last build. Prints the wrapper's path on stdout (logs go to stderr).

Usage: scripts/workerd/runtime.py [--check]   (--check: verify pins only, build nothing)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TOOLS = ROOT / ".tools" / "workerd"

# The runtime this project is tested on. wrangler (package.json, exact) pins Miniflare,
# which pins this workerd; the workerd binary names the Pyodide it calls "dev".
WRANGLER_VERSION = "4.164.0"
WORKERD_VERSION = "1.20261117.1"
PYODIDE_VERSION = "314.0.6"

# Compatibility flags that make workerd use the offline "dev" bundle. The release flags that
# the compatibility date turns on have higher ordinals and would win; switch them off.
DEV_COMPAT_FLAGS = (
    "python_workers",
    "python_workers_development",
    "no_python_workers_20250116",
    "no_python_workers_314",
)


class RuntimeMismatch(SystemExit):
    """A pin does not match what is installed: the message says what to change."""


def log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr)


def _package_version(name: str) -> str:
    path = ROOT / "node_modules" / name / "package.json"
    if not path.is_file():
        raise RuntimeMismatch(f"{name} is not installed in node_modules; run `make install`")
    return json.loads(path.read_text())["version"]


def workerd_binary() -> Path:
    return ROOT / "node_modules" / "@cloudflare" / "workerd-linux-64" / "bin" / "workerd"


def dev_pyodide_of(binary: Path) -> str:
    """The Pyodide version workerd maps the "dev" bundle to (a string table in the binary)."""
    data = binary.read_bytes()
    found = set(re.findall(rb"pythonWorkersDevPyodide\x00+(\d+\.\d+\.\d+)\x00", data))
    if len(found) != 1:
        raise RuntimeMismatch(
            f"cannot tell which Pyodide {binary} maps 'dev' to (found {sorted(found)}); "
            "this workerd is not one scripts/workerd/runtime.py knows"
        )
    return found.pop().decode()


def check_pins() -> Path:
    """The workerd binary, after checking wrangler, workerd and Pyodide against the pins."""
    wrangler = _package_version("wrangler")
    if wrangler != WRANGLER_VERSION:
        raise RuntimeMismatch(
            f"wrangler {wrangler} is installed, the project pins {WRANGLER_VERSION}: run `make install` "
            "(or update WRANGLER_VERSION in scripts/workerd/runtime.py together with package.json)"
        )
    workerd = _package_version("@cloudflare/workerd-linux-64")
    if workerd != WORKERD_VERSION:
        raise RuntimeMismatch(
            f"workerd {workerd} is installed, the project pins {WORKERD_VERSION}: a new wrangler brings a new "
            "workerd; update WORKERD_VERSION and PYODIDE_VERSION in scripts/workerd/runtime.py together"
        )
    binary = workerd_binary()
    dev = dev_pyodide_of(binary)
    if dev != PYODIDE_VERSION:
        raise RuntimeMismatch(
            f"workerd {workerd} maps the 'dev' Python runtime to Pyodide {dev}, the project pins "
            f"{PYODIDE_VERSION}: set PYODIDE_VERSION and scripts/workerd/pyodide-dev/package.json to {dev}"
        )
    return binary


def install_pyodide() -> Path:
    """npm pyodide@PYODIDE_VERSION (from the committed lock file) under .tools/workerd."""
    prefix = TOOLS / f"pyodide-{PYODIDE_VERSION}"
    package = prefix / "node_modules" / "pyodide"
    if not (package / "pyodide.asm.wasm").is_file():
        log(f"npm pyodide@{PYODIDE_VERSION} for the offline Python runtime")
        prefix.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(HERE / "pyodide-dev" / name, prefix / name)
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=prefix,
            check=True,
            stdout=sys.stderr,
        )
    version = json.loads((package / "package.json").read_text())["version"]
    if version != PYODIDE_VERSION:
        raise RuntimeMismatch(f"{package} holds pyodide {version}, expected {PYODIDE_VERSION}; delete {prefix}")
    return package


def build_bundle(package: Path) -> Path:
    """``pyodide_dev.capnp.bin`` in the bundle cache dir, rebuilt when its inputs change."""
    from bundle import write_bundle  # scripts/workerd/bundle.py

    bundle_dir = TOOLS / "pyodide-bundles"
    out = bundle_dir / "pyodide_dev.capnp.bin"
    digest = hashlib.sha256()
    digest.update(PYODIDE_VERSION.encode())
    digest.update((HERE / "bundle.py").read_bytes())
    stamp = bundle_dir / "stamp"
    if out.is_file() and stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return bundle_dir
    log(f"building the 'dev' Pyodide bundle from pyodide {PYODIDE_VERSION}")
    write_bundle(package, out)
    stamp.write_text(digest.hexdigest())
    return bundle_dir


def write_wrapper(binary: Path, bundle_dir: Path) -> Path:
    """The ``workerd`` Miniflare spawns: the real one with the offline cache dirs."""
    packages = TOOLS / "pyodide-packages"
    packages.mkdir(parents=True, exist_ok=True)
    wrapper = TOOLS / "bin" / "workerd"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    text = f"""#!/bin/sh
# Written by scripts/workerd/runtime.py: workerd with the offline Pyodide bundle and package caches.
if [ "$1" = serve ]; then
  shift
  exec "{binary}" serve --pyodide-bundle-disk-cache-dir="{bundle_dir}" \\
    --pyodide-package-disk-cache-dir="{packages}" "$@"
fi
exec "{binary}" "$@"
"""
    if not wrapper.is_file() or wrapper.read_text() != text:
        wrapper.write_text(text)
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return wrapper


def prepare() -> Path:
    binary = check_pins()
    bundle_dir = build_bundle(install_pyodide())
    return write_wrapper(binary, bundle_dir)


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    if "--check" in argv:
        check_pins()
        print(f"workerd {WORKERD_VERSION}, Pyodide {PYODIDE_VERSION}, wrangler {WRANGLER_VERSION}: pins match")
        return
    print(prepare())


if __name__ == "__main__":
    os.chdir(ROOT)
    main(sys.argv[1:])
