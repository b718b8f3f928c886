# One entry point for people and CI. `make demo` and `make test` do their own set-up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test check lint types contracts demo demo-load bench bench-hpa clean prometheus soak

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

# `make soak` runs the wide executor property with 100,000 examples (about 40 minutes on
# two cores); `make soak SOAK_SEED=123` replays a run, `SOAK_EXAMPLES=5000` shortens it.
ifndef SOAK_SEED
SOAK_SEED := $(shell date +%s)
endif
SOAK_EXAMPLES ?=
soak: install
	@echo "Soak seed: $(SOAK_SEED) (make soak SOAK_SEED=$(SOAK_SEED) replays these examples)"
	CLAUDESCALE_HYPOTHESIS_PROFILE=soak CLAUDESCALE_HYPOTHESIS_EXAMPLES=$(SOAK_EXAMPLES) \
		$(BIN)/pytest -q -p no:cacheprovider --hypothesis-seed=$(SOAK_SEED) \
		--hypothesis-show-statistics \
		"tests/test_properties.py::test_no_limits_mode_or_mix_of_workloads_lets_the_executor_break_a_guardrail"

# `make demo DURATION=120` shortens the demo (timings are scaled to fit, and it says so).
DURATION ?= 300
demo: install prometheus
	$(BIN)/claudescale demo --duration $(DURATION)

# `make demo-load` plays idle, ramp, spike and drain on a running sandbox demo (`PHASE=spike`
# sets one); with no sandbox demo running and a kube context set, it (re)starts the load Job of
# manifests/demo in that cluster (scripts/demo-load.sh says how).
PHASE ?=
KUBECTL ?=
demo-load: install
	@BIN=$(BIN) PHASE=$(PHASE) KUBECTL=$(KUBECTL) bash scripts/demo-load.sh

bench: install prometheus
	$(BIN)/python -m benchmarks.run_all

# Only the control-quality comparison with the HPA (simulated; no Prometheus needed).
bench-hpa: install
	$(BIN)/python -m benchmarks.hpa

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
