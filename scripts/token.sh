#!/usr/bin/env bash
# Print only a bearer token for a user id: scripts/token.sh <uuid> [--admin]
set -euo pipefail
source "$(dirname "$0")/env.sh"
exec "$ROOT/.venv/bin/python" -m mediagate.local.token "$@"
