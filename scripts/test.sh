#!/usr/bin/env bash
# The whole suite: lint (ruff, mypy), Python tests (real Postgres, ffmpeg, tus clients), frontend checks,
# and the offline Cloudflare deployment check (wrangler deploy --dry-run, see deploy_check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --check . | tail -20; exit 1; }
.venv/bin/mypy
scripts/api_types.sh --check
if [ -f frontend/package.json ]; then (cd frontend && npm run --silent check); fi
scripts/deploy_check.sh
exec .venv/bin/python -m pytest "$@"
