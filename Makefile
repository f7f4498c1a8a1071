# One entry point for people and CI.  Every target creates or reuses .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test lint typecheck pytest demo bench browser node-sdk clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# Headless Chromium for the report's browser check (Debian package; needs root).
# Without it the browser test skips locally, and fails under CI=true.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will not run"; \
	  else echo "note: chromium not found; install it to run the browser test"; fi; }

# Node and the official Onfleet Node SDK (@onfleet/node-onfleet, pinned by its lockfile)
# for the SDK conformance tests.  Without them those tests skip locally, and fail under CI=true.
SDK_NODE := tests/loadtest/emulator/sdk/node
node-sdk:
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null) \
	      || echo "warning: could not install node; the node SDK tests will not run"; \
	  else echo "note: node not found; install it to run the node SDK tests"; fi; }
	@if command -v npm >/dev/null 2>&1 && \
	  ! [ $(SDK_NODE)/node_modules/.package-lock.json -nt $(SDK_NODE)/package-lock.json ]; then \
	  npm ci --prefix $(SDK_NODE) --no-audit --no-fund --loglevel=error; fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

# Schemathesis gives every operation of the fuzz tests the same test id, which pytest-xdist
# would collapse into one, so they run in the main process, after the rest.
FUZZ := tests/loadtest/emulator/test_fuzz.py

pytest: setup browser node-sdk
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=25 --ignore=$(FUZZ)
	$(BIN)/pytest -q -p no:xdist $(FUZZ)

test: lint typecheck pytest

demo: setup
	$(BIN)/fleetsim demo

bench: setup
	$(BIN)/fleetsim bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
