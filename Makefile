# pgstack: `make help` lists the targets.
UV ?= uv
.DEFAULT_GOAL := help

.PHONY: help install dev test lint format

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: ## create .venv from the lock file (run by the other targets)
	$(UV) sync --frozen

dev: install ## run the stack: database (DATABASE_URL or embedded), migrations, services, worker
	$(UV) run --frozen pgstack dev

test: install ## run the tests on a real PostgreSQL (DATABASE_URL or embedded)
	$(UV) run --frozen pytest

lint: install ## ruff (lint and format check) and mypy strict
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

format: install ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .
