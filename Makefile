# reunite: `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test stress bench clean test-pg

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/reunite demo --serve

test: $(STAMP)
	$(BIN)/python -m pytest

# the whole suite (not the stress tests) on PostgreSQL: a throw-away database per test, on
# $$REUNITE_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432); every test is skipped,
# with the reason, where there is no server (tests/pg_backend.py)
test-pg: $(STAMP)
	REUNITE_TEST_BACKEND=postgresql $(BIN)/python -m pytest $(PYTEST_ARGS)

stress: $(STAMP)
	$(BIN)/python -m pytest -m stress -s

bench: $(STAMP)
	$(BIN)/python bench/bench_lr.py
	$(BIN)/python bench/bench_search.py
	$(BIN)/python bench/bench_dvi.py
	$(BIN)/python bench/bench_index.py
	$(BIN)/python bench/bench_index_theta.py
	$(BIN)/python bench/bench_family_search.py
	$(BIN)/python bench/bench_api.py --million
	$(BIN)/python bench/bench_dask.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
