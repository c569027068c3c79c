# Warden's everyday commands. `make run` serves the app on the embedded default; `make test` runs the
# whole suite. Both start from a clean clone with nothing but Python 3.11.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
# Rebuilt only when pyproject.toml changes, so repeated `make run` / `make test` start at once.
VENV_STAMP := $(VENV)/.installed
PORT ?= 8000
PYTEST_ARGS ?=
QUEUES := default,scans,evaluations,pdf
# What the browser tests and the PDF checks need from Debian (libnss3-tools: certutil, so that pdfsig
# can be told to trust the demo CA that signs evidence packs).
SYSTEM_PACKAGES := chromium poppler-utils fonts-dejavu-core libnss3-tools
CHROMIUM_BIN ?= /usr/bin/chromium

.DEFAULT_GOAL := help
.PHONY: help venv run test system-deps worker beat bench lint clean

help:
	@echo "make run          install, migrate, seed the demo data and serve http://127.0.0.1:$(PORT)"
	@echo "make test         install what the tests need and run the whole suite"
	@echo "make worker       a Celery worker for the queues $(QUEUES) (needs REDIS_URL)"
	@echo "make beat         the Celery beat scheduler (needs REDIS_URL)"
	@echo "make bench        every benchmark in bench/ (or one: make bench BENCH=register)"
	@echo "make lint         ruff"

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.11 not found: install it or run 'make PYTHON=/path/to/python3.11'" >&2; exit 1; fi
	@"$(PYTHON)" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
		|| { echo "Warden needs Python 3.11; $(PYTHON) is $$("$(PYTHON)" --version 2>&1)" >&2; exit 1; }
	test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

# The embedded default: SQLite, tasks run in-process, files under ./data. A DATABASE_URL or REDIS_URL(_CACHE_URL)
# left in the shell does not leak in; run the production profile with manage.py/gunicorn instead.
run: $(VENV_STAMP)
	env -u DATABASE_URL -u REDIS_URL -u REDIS_CACHE_URL $(BIN)/python manage.py migrate --no-input
	env -u DATABASE_URL -u REDIS_URL -u REDIS_CACHE_URL $(BIN)/python manage.py seed_demo
	env -u DATABASE_URL -u REDIS_URL -u REDIS_CACHE_URL $(BIN)/python manage.py ensure_signing_cert
	env -u DATABASE_URL -u REDIS_URL -u REDIS_CACHE_URL $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# Chromium (browser tests), pdftoppm (PDF checks) and a font, from Debian, only when missing. Where
# they cannot be installed (no apt, not root) the tests that need them are skipped, except in CI
# (WARDEN_REQUIRE_SERVICES=1), where that is a failure.
system-deps:
	@if [ -x $(CHROMIUM_BIN) ] && command -v pdftoppm >/dev/null 2>&1 && command -v certutil >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi; \
	if [ "$$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing $(SYSTEM_PACKAGES) from Debian"; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) \
			&& exit 0; \
	fi; \
	if [ "$$WARDEN_REQUIRE_SERVICES" = 1 ]; then \
		echo "ERROR: could not install $(SYSTEM_PACKAGES); the browser and PDF tests need them" >&2; exit 1; \
	fi; \
	echo "WARNING: could not install $(SYSTEM_PACKAGES); browser and PDF tests will be skipped" >&2

# Serial on purpose: two cores, and the integration tests share one worker process and one test
# database. pytest's exit code 5 means it collected nothing, which is a failure, not a pass.
test: $(VENV_STAMP) system-deps
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "ERROR: pytest collected no tests (exit code 5)" >&2; fi; \
	exit $$status

worker: $(VENV_STAMP)
	$(BIN)/celery -A governance worker -Q $(QUEUES) -l info

beat: $(VENV_STAMP)
	$(BIN)/celery -A governance beat -l info

# Every benchmark in bench/, or one: `make bench BENCH=register`. They print their figures.
BENCH ?= [!_]*
bench: $(VENV_STAMP)
	@set -e; for script in bench/$(BENCH).py; do echo "== $$script"; $(BIN)/python $$script; done

lint: $(VENV_STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache .ruff_cache
