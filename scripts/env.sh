# Shared settings for the local stack (sourced by dev.sh, token.sh).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DATA_DIR=${DATA_DIR:-$ROOT/data}
export PG_PORT=${PG_PORT:-54329}
export DATABASE_URL=${DATABASE_URL:-postgresql://mediagate@127.0.0.1:$PG_PORT/mediagate}
export PYTHONPATH="$ROOT/worker/src:$ROOT/container${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$DATA_DIR"
chmod 755 "$DATA_DIR"
if [ ! -s "$DATA_DIR/jwt_secret" ]; then
  (umask 077; "$ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' > "$DATA_DIR/jwt_secret")
fi
export JWT_SECRET=${JWT_SECRET:-$(cat "$DATA_DIR/jwt_secret")}
if [ ! -s "$DATA_DIR/webhook_secret" ]; then
  (umask 077; "$ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' > "$DATA_DIR/webhook_secret")
fi
export WEBHOOK_SECRET=${WEBHOOK_SECRET:-$(cat "$DATA_DIR/webhook_secret")}
