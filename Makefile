# MMR — the two commands: `make run` and `make test`. Everything else goes through `mmr --help`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := python3 -m uv
MMR := $(UV) run --frozen mmr
export UV_LINK_MODE := copy
# Installed packages are compiled once, so no process compiles them again where bytecode is not written.
export UV_COMPILE_BYTECODE := 1

.PHONY: help uv setup run serve stop export-dashboards bench test lint format docs browser-deps clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

uv: ## Install uv when it is missing
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv

setup: uv ## Install both environments from their lockfiles (pipeline, Superset)
	$(UV) sync --frozen --quiet
	$(UV) sync --frozen --quiet --project superset
	npm ci --prefix expectations/vendor --no-audit --no-fund --ignore-scripts --loglevel=error

run: setup ## Generate demo data, run the whole pipeline, start Dagster and Superset
	$(MMR) run
	$(MMR) serve

serve: setup ## Start Dagster and Superset on what is published
	$(MMR) serve

stop: ## Stop Dagster and Superset
	@$(MMR) stop

export-dashboards: setup ## Write dashboards edited in Superset back into superset/assets/
	$(MMR) export-dashboards

lint: setup ## ruff and sqlfluff
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	MMR_BUILD_DB=$$(mktemp -d)/lint.duckdb $(UV) run --frozen sqlfluff lint dbt

format: setup ## Apply ruff and sqlfluff fixes
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .
	MMR_BUILD_DB=$$(mktemp -d)/lint.duckdb $(UV) run --frozen sqlfluff fix dbt

browser-deps: ## Debian's Chromium for the browser tests (installed once)
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core; }

test: setup browser-deps lint ## The full test suite (what CI runs)
	$(UV) run --frozen pytest -n 2 --dist loadgroup --no-loadscope-reorder --durations=40

bench: setup ## National-scale benchmark; report in var/bench/ (SCALE=demo for a quick check)
	$(MMR) bench --scale $(or $(SCALE),national)

docs: setup ## Build the dbt docs site (var/dbt_docs)
	$(MMR) docs

clean: stop ## Remove all runtime state (var/)
	rm -rf var
