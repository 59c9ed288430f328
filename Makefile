# Two commands do all setup: `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Same locations as the code (resources/environment.py), exported for the dagster CLI.
ENVIRONMENT = eval "$$($(BIN)/python -m resources.environment)"

.PHONY: install demo lint test test-fast ui bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/python -m main_job --hold-back-days 3

# Lint, format, types and the layer contracts (pyproject.toml); `make test` runs them first.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# On two workers, each test file wholly on one (its module fixtures, e.g. the UI's server, are made once).
test: lint
	bash scripts/ensure_postgres.sh
	bash scripts/ensure_browser.sh
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The quick loop: no PostgreSQL, no browser, nothing marked slow; about a minute on 2 cores.
test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not postgres and not slow and not e2e"

# dagster dev beside the demo's live feed (local_services/live_feed.py): the local v3 API's latest
# values and the sample archive's new days and patched files, so the sensors find new data. The
# feed's variables (API URL, test key, SSL_CERT_FILE trusting its certificate) go to dagster dev
# only; the feed stops when dagster dev does (Ctrl-C). With an OPENAQ_ARCHIVE_URL of your own,
# dagster dev alone.
SAMPLE_ARCHIVE_DIR := $(CURDIR)/data/openaq-archive
LIVE_FEED_ENV := data/live-feed.env
ui: install
	@$(ENVIRONMENT); \
	if [ "$$OPENAQ_ARCHIVE_URL" != "$(SAMPLE_ARCHIVE_DIR)" ]; then exec $(BIN)/dagster dev -w workspace.yaml; fi; \
	test -f $(SAMPLE_ARCHIVE_DIR)/locations.json || { echo "No demo data yet: run 'make demo' first."; exit 1; }; \
	rm -f $(LIVE_FEED_ENV); \
	$(BIN)/python -m local_services.live_feed --env-file $(LIVE_FEED_ENV) & feed=$$!; \
	trap 'kill $$feed 2>/dev/null; wait $$feed' EXIT; trap 'exit 130' INT TERM; \
	while [ ! -f $(LIVE_FEED_ENV) ]; do kill -0 $$feed 2>/dev/null || exit 1; sleep 0.2; done; \
	. ./$(LIVE_FEED_ENV); $(BIN)/dagster dev -w workspace.yaml

# Every benchmark in turn (never in parallel: they measure time), each one's output kept in
# benchmarks/results/<name>.txt. Needs the local PostgreSQL, like the tests. About 15 minutes.
BENCHMARKS = ingest selection backfill code_location serving paper_figure cold_run
bench: install
	bash scripts/ensure_postgres.sh
	mkdir -p benchmarks/results
	for name in $(BENCHMARKS); do \
		$(BIN)/python -m benchmarks.$$name 2>benchmarks/results/$$name.log | tee benchmarks/results/$$name.txt; \
	done

clean:
	rm -rf data .dagster_home
