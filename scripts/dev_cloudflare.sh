#!/usr/bin/env bash
# `make dev-cloudflare`: the whole system on the Cloudflare runtime (workerd via wrangler dev),
# offline: see scripts/workerd/stack.py. Same port, tokens (make token) and web UI as `make dev`;
# its own Postgres database and local R2/Queues state under $DATA_DIR/cloudflare.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
CF_PG_PORT=${CF_PG_PORT:-54330}
mkdir -p "$DATA_DIR/cloudflare"
export CF_DATABASE_URL
CF_DATABASE_URL=$("$ROOT/scripts/postgres.sh" start "$DATA_DIR/cloudflare/pg" "$CF_PG_PORT" | tail -n 1)
trap '"$ROOT/scripts/postgres.sh" stop "$DATA_DIR/cloudflare/pg" "$CF_PG_PORT"' EXIT
.venv/bin/python -m mediagate.local.migrate --dsn "$CF_DATABASE_URL"
.venv/bin/python scripts/workerd/stack.py
