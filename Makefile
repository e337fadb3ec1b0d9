# The README's commands. Each installs what it needs (uv included) on a machine that has only python3.
SHELL := /bin/bash
PYTHON ?= python3
# Prefer a uv already on PATH; otherwise install one into .tools/ (a private venv, so no system pip is touched).
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
HOST ?= 127.0.0.1
PORT ?= 9100
DATA_DIR ?= ./data
# The uv that wrote uv.lock; installed into .tools/ when none is on PATH.
UV_VERSION ?= 0.13.8

export UV_PYTHON_DOWNLOADS := never
# Trust the system's certificate store (as pip does), so registries behind a custom CA work without extra setup.
export UV_SYSTEM_CERTS := true
# Frameworks under test must never phone home.
export CREWAI_DISABLE_TELEMETRY := true
export CREWAI_TRACING_ENABLED := false
export OTEL_SDK_DISABLED := true
export OPENAI_AGENTS_DISABLE_TRACING := 1

.PHONY: serve test lint format bench bench-full sync browser

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

sync: $(UV)
	$(UV) sync --locked --python $(PYTHON)

serve: sync
	$(UV) run --locked memtrace serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test: sync browser
	$(UV) run --locked pytest $(PYTEST_ARGS)

# The dashboard's browser tests drive Debian's Chromium (Playwright's own browser download is not used).
# Installed here when missing and we are root with apt-get; otherwise those tests skip (and fail under CI=true).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x "$(CHROMIUM)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make: installing chromium for the dashboard's browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# Type checking: packages/ strictly ([tool.mypy] in pyproject.toml); tests/ and bench/ leniently (tests/mypy.ini),
# in two runs because bench imports the Arc stand-in as `tests.arc...` and tests import it as `arc...`.
lint: sync
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy
	$(UV) run --locked mypy --config-file tests/mypy.ini tests
	$(UV) run --locked mypy --config-file tests/mypy.ini bench

format: sync
	$(UV) run --locked ruff check --fix .
	$(UV) run --locked ruff format .

bench: sync
	$(UV) sync --locked --python $(PYTHON) --group bench
	$(UV) run --locked --group bench python -m bench $(BENCH_ARGS)

bench-full:
	$(MAKE) bench BENCH_ARGS=--full
