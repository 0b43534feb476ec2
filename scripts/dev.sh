#!/usr/bin/env bash
# Run the whole system locally: Postgres, migrations, the API + web UI on :8787, the processor.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-8787}
export FRONTEND_DIR=${FRONTEND_DIR:-$ROOT/frontend/dist}

"$ROOT/scripts/postgres.sh" start "$DATA_DIR/pg" "$PG_PORT" >/dev/null
.venv/bin/python -m mediagate.local.migrate --dsn "$DATABASE_URL"
if [ -f frontend/package.json ]; then (cd frontend && npm run --silent build); fi

trap '"$ROOT/scripts/postgres.sh" stop "$DATA_DIR/pg" "$PG_PORT"' EXIT
# The API and the processor (niced), restarted when one dies; Ctrl-C stops both.
MEDIAGATE_ROOT="$ROOT" .venv/bin/python -m mediagate.local.dev
