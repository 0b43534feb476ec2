#!/usr/bin/env bash
# The whole suite: lint, Python tests (real Postgres, ffmpeg, tus clients), frontend checks.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --check . | tail -20; exit 1; }
if [ -f frontend/package.json ]; then (cd frontend && npm run --silent check); fi
exec .venv/bin/python -m pytest "$@"
