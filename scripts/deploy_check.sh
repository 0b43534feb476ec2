#!/usr/bin/env bash
# `make deploy-check`: everything about the Cloudflare deployment that can be checked
# without reaching Cloudflare. Fails on any config or bundle error (wrangler warnings too).
#
#  1-2. wrangler.toml's [build] command: python_modules/ vendored (scripts/vendor_worker.sh:
#     pure-Python wheels only) and frontend/dist built (Workers Assets upload it);
#  3. `wrangler deploy --dry-run --outdir .wrangler/deploy-check` under Node >= 22
#     (scripts/node22.sh installs one from npm when the system Node is older): validates
#     wrangler.toml (bindings, assets, queues, containers, Durable Objects, migrations,
#     crons, python_modules) and assembles the upload. With a running Docker engine the
#     dry run builds the image; without one (as here) WRANGLER_DOCKER_BIN is
#     scripts/dockerfile_check.py: it statically checks the Dockerfile and build context
#     wrangler hands to `docker build`, and builds nothing;
#  4. the bundle holds the entry, the core, the dispatch module and the vendored packages
#     (starlette, pyjwt, filetype, anyio, the workers SDK), and no compiled file;
#  5. container/requirements.txt (the lock, `make lock`) resolves to wheels for the image's
#     platform (python:3.11-slim-bookworm, linux/amd64, glibc 2.36) with --require-hashes, as
#     the image's pip step runs it — a pip resolution against PyPI, without installing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/.wrangler/deploy-check"
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

[ -x node_modules/.bin/wrangler ] || { echo "deploy-check: wrangler is not installed; run scripts/install.sh" >&2; exit 1; }

# A running Docker engine builds the image for real (wrangler's dry run builds, never
# pushes); otherwise the static stand-in checks what a build would need.
.venv/bin/python scripts/dockerfile_check.py check
DOCKER_BIN="$ROOT/scripts/dockerfile_check.py"
if [ -z "${DEPLOY_CHECK_STATIC_DOCKER:-}" ] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  DOCKER_BIN=$(command -v docker)
fi

NODE=$(scripts/node22.sh)
log "wrangler deploy --dry-run (node $("$NODE" --version), wrangler $("$NODE" node_modules/wrangler/bin/wrangler.js --version 2>/dev/null | tail -1))"
rm -rf "$OUT"
mkdir -p "$OUT"
log_file=$(mktemp)
trap 'rm -f "$log_file"' EXIT
set +e
WRANGLER_SEND_METRICS=false \
WRANGLER_DOCKER_BIN="$DOCKER_BIN" \
WRANGLER_LOG_PATH="$ROOT/.wrangler/logs" \
CI=1 NO_COLOR=1 FORCE_COLOR=0 \
  "$NODE" node_modules/wrangler/bin/wrangler.js deploy --dry-run --outdir "$OUT" >"$log_file" 2>&1
rc=$?
set -e
sed -i 's/\x1b\[[0-9;]*m//g' "$log_file"  # wrangler colours its output whatever NO_COLOR says
# The module table is long; show the rest.
grep -v -E '^[│├┌└]' "$log_file" >&2 || true
if [ $rc -ne 0 ]; then
  echo "deploy-check: wrangler deploy --dry-run failed (exit $rc)" >&2
  exit 1
fi
if grep -q -E '\[(WARNING|ERROR)\]' "$log_file"; then
  echo "deploy-check: wrangler reported warnings (unknown or misplaced config fields are only warnings); fix them" >&2
  exit 1
fi

# The bundle wrangler would upload.
missing=()
for f in entry.py mediagate/api/app.py mediagate/tus/engine.py mediagate/adapters/cloudflare/container_dispatch.py \
         python_modules/starlette/applications.py python_modules/jwt/__init__.py python_modules/filetype/__init__.py \
         python_modules/anyio/__init__.py python_modules/workers/__init__.py python_modules/workers/asgi.py; do
  [ -f "$OUT/$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deploy-check: the bundle lacks: ${missing[*]}" >&2
  exit 1
fi
compiled=$(find "$OUT" \( -name '*.so' -o -name '*.pyc' -o -name '*.pyd' \) | head -5)
if [ -n "$compiled" ]; then
  echo "deploy-check: compiled files in the bundle: $compiled" >&2
  exit 1
fi

log "container/requirements.txt resolves to linux/amd64 CPython 3.11 wheels (the image's pip step)"
PIP_CONSTRAINT= .venv/bin/pip install --dry-run --ignore-installed --quiet --disable-pip-version-check \
  --require-hashes --no-deps --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
  --platform manylinux_2_36_x86_64 --platform manylinux_2_35_x86_64 --platform manylinux_2_34_x86_64 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
  --target "$OUT/.container-resolve" -r container/requirements.txt \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

log "deploy-check passed: bundle in ${OUT#"$ROOT"/}"
