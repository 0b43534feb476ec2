#!/usr/bin/env bash
# Install whatever is missing, idempotently: Debian packages, the Python venv, npm packages.
# Each step is skipped when its inputs did not change (stamps in .stamps/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STAMPS="$ROOT/.stamps"
mkdir -p "$STAMPS"
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

APT_PACKAGES=(ffmpeg postgresql libjxl-testdata libvips-tools zip unzip chromium libimage-exiftool-perl strace)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "python venv (.venv)"
  "$PY" -m venv .venv
fi
req_hash=$(cat requirements-dev.txt requirements-local.txt worker/requirements.txt container/requirements.in | sha256sum | cut -c1-16)
if [ "$(cat "$STAMPS/pip" 2>/dev/null)" != "$req_hash" ]; then
  log "pip install -r requirements-dev.txt"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$req_hash" > "$STAMPS/pip"
fi

npm_install() {  # dir
  local dir=$1 hash
  [ -f "$dir/package.json" ] || return 0
  hash=$(cat "$dir/package.json" "$dir/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16)
  local stamp="$STAMPS/npm-$(echo "$dir" | tr '/.' '__')"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ] || [ ! -d "$dir/node_modules" ]; then
    log "npm install in $dir"
    if [ -f "$dir/package-lock.json" ]; then (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); \
    else (cd "$dir" && npm install --no-audit --no-fund --loglevel=error); fi
    echo "$hash" > "$stamp"
  fi
}
npm_install .
npm_install frontend
