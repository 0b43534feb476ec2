#!/usr/bin/env bash
# Vendor the Worker's pure-Python dependencies into python_modules/ (pywrangler's layout).
#
# wrangler uploads every file under <project root>/python_modules/ with the Worker (as
# python_modules/<path>, *.pyc excluded) and the Python Workers runtime puts that directory
# on sys.path; the .js files of the workers-runtime-sdk are uploaded as ES modules. This is
# the layout `pywrangler sync` produces, built here with plain pip so it needs neither uv
# nor a downloaded Pyodide interpreter:
#
#   * worker/requirements.txt (starlette, pyjwt, filetype and their dependencies),
#     constrained to the versions installed in .venv, so the code that passes the CPython
#     tests is the code that ships and that tests/test_pyodide_worker.py runs on Pyodide;
#   * workers-runtime-sdk (the `workers` module: WorkerEntrypoint, DurableObject, asgi),
#     which pywrangler always vendors;
#   * wheels only, resolved for CPython $WORKER_PYTHON (the Python of the Workers runtime
#     selected by wrangler.toml's compatibility date: 3.14 from 2026-09-08 on), and every
#     wheel must be pure Python (py3-none-any): a C extension cannot load in the Worker.
#
# Idempotent: skipped when its inputs did not change. Usage: scripts/vendor_worker.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/python_modules"
WORKER_PYTHON=${WORKER_PYTHON:-3.14}
WORKERS_RUNTIME_SDK=${WORKERS_RUNTIME_SDK:-workers-runtime-sdk==1.9.5}
PIP="$ROOT/.venv/bin/pip"
STAMP="$ROOT/.stamps/vendor_worker"
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

[ -x "$PIP" ] || { echo "vendor_worker: .venv is missing; run scripts/install.sh first" >&2; exit 1; }

constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
# The versions the CPython tests use (pip freeze of .venv), minus the SDK pinned above.
"$PIP" freeze --exclude-editable 2>/dev/null | grep -v -i '^workers-runtime-sdk' > "$constraints" || true

stamp_input=$( (cat worker/requirements.txt "$constraints"; echo "$WORKER_PYTHON $WORKERS_RUNTIME_SDK"; \
  sed -n '1,400p' "$0") | sha256sum | cut -c1-16)
if [ "${1:-}" != "--force" ] && [ -d "$OUT/workers" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$stamp_input" ]; then
  exit 0
fi

log "vendoring Worker packages into python_modules/ (CPython $WORKER_PYTHON, pure-Python wheels only)"
tmp="$OUT.tmp"
rm -rf "$tmp"
# --platform any + --abi none + --implementation py: only py3-none-any wheels can satisfy
# the resolution, so a package that needs a compiled wheel fails here, loudly. The
# image-wide pip constraint file (PIP_CONSTRAINT) is for the host venv, not for this target.
PIP_CONSTRAINT= "$PIP" install --quiet --disable-pip-version-check --no-compile --no-warn-conflicts \
  --target "$tmp" --only-binary=:all: --python-version "$WORKER_PYTHON" \
  --implementation py --abi none --platform any \
  -c "$constraints" -r worker/requirements.txt "$WORKERS_RUNTIME_SDK" \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

# Check every installed distribution: wheel tags must be pure (py3-none-any / py2.py3-none-any).
"$ROOT/.venv/bin/python" - "$tmp" <<'PY'
import sys
from email.parser import Parser
from pathlib import Path

root = Path(sys.argv[1])
bad, names = [], []
for info in sorted(root.glob("*.dist-info")):
    wheel = Parser().parsestr((info / "WHEEL").read_text())
    tags = wheel.get_all("Tag") or []
    pure = wheel.get("Root-Is-Purelib", "").strip().lower() == "true"
    py3 = any(t.split("-")[0].split(".")[-1].startswith("py3") or t.startswith("py2.py3") for t in tags)
    if not pure or not py3 or any(not t.endswith("-none-any") for t in tags):
        bad.append(f"{info.name}: {', '.join(tags) or 'no tags'} (Root-Is-Purelib: {pure})")
    names.append(info.name.removesuffix(".dist-info"))
for ext in ("*.so", "*.pyd", "*.dylib"):
    bad += [f"compiled file {p.relative_to(root)}" for p in root.rglob(ext)]
if bad:
    sys.exit("vendor_worker: not pure Python, cannot run in the Worker:\n  " + "\n  ".join(bad))
print("vendored: " + " ".join(names), file=sys.stderr)
PY

rm -rf "$tmp/bin"          # console scripts: not importable, not needed in the Worker
touch "$tmp/pyvenv.cfg"    # pywrangler marks python_modules this way
rm -rf "$OUT"
mv "$tmp" "$OUT"
mkdir -p "$(dirname "$STAMP")"
echo "$stamp_input" > "$STAMP"
