# One entry point for people and CI. `make demo` and `make test` do their own set-up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test check lint types contracts demo demo-load bench clean prometheus

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

prometheus:
	@bash scripts/ensure-prometheus.sh

test: install prometheus
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check claudescale tests benchmarks
	$(BIN)/ruff format --check claudescale tests benchmarks

types: install
	$(BIN)/mypy

contracts: install
	$(BIN)/lint-imports

check: lint types contracts test

# `make demo DURATION=120` shortens the demo (timings are scaled to fit, and it says so).
DURATION ?= 300
demo: install prometheus
	$(BIN)/claudescale demo --duration $(DURATION)

# `make demo-load` plays idle, ramp, spike and drain on a running demo; `PHASE=spike` sets one.
PHASE ?=
demo-load: install
	$(BIN)/claudescale demo-load $(PHASE)

bench: install prometheus
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
