# Everything a fresh machine needs is installed by these targets (Python 3.10+ required).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# what the demo, the notebooks and the benchmarks need; `make test` adds the test tools, the
# PostgreSQL driver and Dagster (the suite runs them)
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.installed-test-stamp

.PHONY: install demo test notebooks bench clean

$(VENV)/bin/python:
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is required"'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[notebooks]'
	@touch $(STAMP)

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[test,notebooks]'
	@touch $(TEST_STAMP) $(STAMP)

install: $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/tiktok-portability demo

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

# executes the three notebooks against the demo data; HTML to reports/, one chart each to docs/img/
notebooks: $(STAMP)
	@test -f demo.duckdb || $(BIN)/tiktok-portability demo
	$(BIN)/python notebooks/render.py --duckdb demo.duckdb

# speed and memory against named baselines (issue 5); not part of `make test` (a smoke run is)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) demo_data demo.duckdb reports .pytest_cache
