# pgstack: `make help` lists the targets.
UV ?= uv
.DEFAULT_GOAL := help

.PHONY: help install dev test lint format web web-types e2e bench-web

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: ## create .venv from the lock file (run by the other targets)
	$(UV) sync --frozen

dev: install ## run the stack: database, migrations, services, worker, web app on :3000 (Node 20+)
	$(UV) run --frozen pgstack dev

test: install ## run the tests on a real PostgreSQL (DATABASE_URL or embedded); e2e needs Chromium
	$(UV) run --frozen pytest

lint: install ## ruff (lint and format check) and mypy strict
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

format: install ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

web: install ## install the web app (npm ci), check its formatting, build it (type-checked)
	$(UV) run --frozen python -c 'from deploy.dev import build_web; build_web()'
	cd web && npm run --silent format:check


web-types: ## regenerate web/lib/api/*.ts from the running services' OpenAPI (needs `make dev`)
	cd web && npm run gen:api

e2e: install ## only the browser tests (tests/e2e: Chromium at /usr/bin/chromium, Node 20+)
	$(UV) run --frozen pytest tests/e2e

bench-web: install ## FCP and time to interactive of /dashboard in Chromium, 20 loads
	$(UV) run --frozen python bench/web.py
