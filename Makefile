# Two commands do all setup: `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Same locations as the code (resources/environment.py), exported for the dagster CLI.
ENVIRONMENT = eval "$$($(BIN)/python -m resources.environment)"

.PHONY: install demo test ui clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/python -m main_job

test: install
	bash scripts/ensure_postgres.sh
	bash scripts/ensure_browser.sh
	$(BIN)/python -m pytest

ui: install
	$(ENVIRONMENT) && $(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf data .dagster_home
