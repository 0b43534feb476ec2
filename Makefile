# Mediagate: `make dev` runs everything locally, `make test` runs every test.
.PHONY: install dev dev-cloudflare test deploy-check token lint format bench lock api-types

install:
	@scripts/install.sh

dev: install
	@scripts/dev.sh

# The same system on the Cloudflare runtime (workerd, offline): Worker, local R2, Queues,
# Durable Objects, Assets, cron, Neon's SQL-over-HTTP endpoint, and the processor.
dev-cloudflare: install
	@scripts/dev_cloudflare.sh

test: install
	@scripts/test.sh $(ARGS)

# Validate the Cloudflare deployment offline: vendored packages, wrangler deploy --dry-run
# (Node >= 22), the bundle, the container image's Dockerfile and requirements.
deploy-check: install
	@scripts/deploy_check.sh

# Prints only the token (installs go to stderr): make token USER=<uuid> [ADMIN=1]
token:
	@scripts/install.sh >&2
	@scripts/token.sh "$(USER)" $(if $(ADMIN),--admin)

# ruff, then mypy ([tool.mypy] in pyproject.toml: strict on the Worker core).
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

# container/requirements.txt (the image's lock, with hashes) from container/requirements.in.
lock:
	@scripts/lock_container.sh $(ARGS)

# frontend/src/api-types.gen.ts from the app's OpenAPI document (rerun after changing the API).
api-types:
	@scripts/api_types.sh

format:
	.venv/bin/ruff check --fix . ; .venv/bin/ruff format .

bench:
	.venv/bin/python bench/upload.py
