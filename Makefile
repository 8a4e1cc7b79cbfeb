# pgstack: `make help` lists the targets.
# uv: the one on PATH, else the pinned release deploy/tools.sh fetches into .tools/ (UV=... to
# choose another, e.g. UV="python3 -m uv").
TOOLS_UV := .tools/uv/bin/uv
UV ?= $(or $(shell command -v uv),$(TOOLS_UV))
.DEFAULT_GOAL := help

.PHONY: help install tools dev test lint format schema web web-types e2e bench-web soak

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: ## create .venv from the lock file, fetching uv first if missing (run by the others)
	@if [ "$(UV)" = "$(TOOLS_UV)" ]; then deploy/tools.sh uv; fi
	$(UV) sync --frozen --group bench

tools: ## install the system packages the tests need (PostgreSQL, Chromium), or say how
	@deploy/tools.sh test

dev: install ## run the stack: database, migrations, services, worker, web app on :3000 (Node 20+)
	@deploy/tools.sh dev
	$(UV) run --frozen pgstack dev

test: install tools ## run the tests on a real PostgreSQL (DATABASE_URL or embedded) and Chromium
	$(UV) run --frozen pytest

lint: install ## ruff (lint and format check), mypy strict, import contracts (lint-imports)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports

format: install ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

schema: install ## regenerate deploy/schema.sql from a freshly migrated database (after a migration)
	$(UV) run --frozen pgstack schema --write

web: install ## install the web app (npm ci), check its formatting, build it (type-checked)
	$(UV) run --frozen python -c 'from deploy.dev import build_web; build_web()'
	cd web && npm run --silent format:check

web-types: ## regenerate web/lib/api/*.ts from the running services' OpenAPI (needs `make dev`)
	cd web && npm run gen:api

e2e: install tools ## only the browser tests (tests/e2e: Chromium at /usr/bin/chromium, Node 20+)
	$(UV) run --frozen pytest tests/e2e

bench-web: install tools ## FCP and time to interactive of /dashboard in Chromium, 20 loads
	$(UV) run --frozen python bench/web.py

soak: install ## 60 s of 20 virtual users on the stack as processes: 5xx, p50/p99, connections, RSS
	$(UV) run --frozen python bench/soak.py
