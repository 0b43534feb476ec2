"""Import checks run inside Pyodide by tests/pyodide/run.mjs.

``import_worker_graph`` imports every module of the Worker (worker/src/mediagate except
the CPython-only local runtime) and entry.py's imports, on Pyodide, with only the vendored
python_modules available: a C extension, a missing dependency or an import-time thread
fails here. ``must_fail`` imports modules that should not load in the Worker and reports
how each failed, which shows the check would catch them.
"""

from __future__ import annotations

import importlib
import sys
import threading
import traceback
from pathlib import Path

LOCAL_ONLY = ("mediagate.local", "mediagate.adapters.local")


def import_worker_graph() -> dict:
    import mediagate

    root = Path(mediagate.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not name.startswith(LOCAL_ONLY):
            names.append(name)
    imported, failed = [], {}
    for name in names:
        try:
            importlib.import_module(name)
            imported.append(name)
        except BaseException as exc:
            failed[name] = "".join(traceback.format_exception_only(exc)).strip()
    leaked = sorted(
        m for m in sys.modules if m.startswith(LOCAL_ONLY) or m.split(".")[0] in ("psycopg", "psycopg_pool")
    )
    return {
        "imported": imported,
        "failed": failed,
        "leaked": leaked,
        "platform": sys.platform,
        "python": sys.version.split()[0],
        "threads": threading.active_count(),
    }


def must_fail(modules: list[str]) -> dict:
    results = {}
    for name in modules:
        before = set(sys.modules)
        try:
            importlib.import_module(name)
            results[name] = None
        except BaseException as exc:
            results[name] = f"{type(exc).__name__}: {exc}"
        finally:
            for added in set(sys.modules) - before:  # parents too: leave the interpreter as it was
                sys.modules.pop(added, None)
    return results


def runtime_state() -> dict:
    loaded = sorted(m for m in sys.modules if m.startswith(LOCAL_ONLY))
    return {"threads": threading.active_count(), "local_modules_loaded": loaded}
