#!/usr/bin/env bash
# `make lock`: regenerate container/requirements.txt, the processor image's lock file, from
# container/requirements.in with pip-tools (pinned in requirements-dev.txt): every package
# of the closure pinned to one version, with the sha256 of each of its files on PyPI, so
# the Dockerfile's `pip install --require-hashes` installs the same bytes on every build.
#
# Resolved with this venv's Python (3.11, as the image's) and wheels only (the image
# installs with --only-binary=:all:). Existing pins are kept while they satisfy the input;
# `make lock ARGS=--upgrade` moves every package to its newest release, `ARGS="-P numpy"`
# one package. Machine-local pip settings (extra indexes, find-links, constraints) are
# ignored so that the lock names PyPI's files only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pip-compile ] || { echo "lock: pip-tools is missing; run scripts/install.sh" >&2; exit 1; }
PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_CONSTRAINT= PIP_EXTRA_INDEX_URL= \
CUSTOM_COMPILE_COMMAND="make lock" \
  .venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
  --no-emit-index-url --no-emit-find-links --pip-args "--only-binary=:all:" \
  --output-file container/requirements.txt "$@" container/requirements.in
