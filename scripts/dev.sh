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

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$ROOT/scripts/postgres.sh" stop "$DATA_DIR/pg" "$PG_PORT"
}
trap cleanup EXIT INT TERM

.venv/bin/python -m mediagate.local.server &
pids+=($!)
if [ -f container/processor/service.py ]; then
  export WORKER_URL=${WORKER_URL:-http://$HOST:$PORT} PROCESSOR_PORT=${PROCESSOR_PORT:-8788}
  .venv/bin/python -m processor.service &
  pids+=($!)
fi

for _ in $(seq 1 100); do
  if curl -fsS "http://$HOST:$PORT/api/health" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
echo "Mediagate is running: http://$HOST:$PORT  (data in $DATA_DIR; Ctrl-C stops everything)"
echo "Get a token:  make token USER=\$(python3 -c 'import uuid; print(uuid.uuid4())')"
wait -n "${pids[@]}"
