# Everything a fresh machine needs is installed by these targets (Python 3.10+ required).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# what the demo, the notebooks and the benchmarks need; `make test` adds the test tools, the
# PostgreSQL driver and Dagster (the suite runs them)
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.installed-test-stamp

.PHONY: install demo test test-airflow notebooks bench mutate clean

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

# the Airflow DAG, run for real: Airflow (~80 packages with many upper bounds) in a venv of its own
AIRFLOW_VENV := .venv-airflow
$(AIRFLOW_VENV)/.installed-stamp: pyproject.toml
	$(PY) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -e '.[airflow,test]'
	@touch $@

test-airflow: $(AIRFLOW_VENV)/.installed-stamp
	TIKTOK_TEST_REQUIRE_AIRFLOW=1 $(AIRFLOW_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_airflow_dag.py

# executes the three notebooks against the demo data; HTML to reports/, one chart each to docs/img/
# (render.py alone writes the charts under reports/: docs/img is tracked and takes demo charts only)
notebooks: $(STAMP)
	@test -f demo.duckdb || $(BIN)/tiktok-portability demo
	$(BIN)/python notebooks/render.py --duckdb demo.duckdb --figures docs/img

# speed and memory against named baselines (issue 5); not part of `make test` (a smoke run is)
bench: $(STAMP)
	@$(BIN)/python -c 'import psycopg2' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[notebooks,postgres]'
	@# both run even when the first misses a target; the worse exit code is make's
	$(BIN)/python benchmarks/bench.py; first=$$?; \
	$(BIN)/python benchmarks/many_users.py; second=$$?; exit $$(( first > second ? first : second ))

# mutation testing of the modules that decide what a row is (issue 18; docs/mutation.md): mutmut over a
# fast subset of the tests, then the score per module and every mutant left alive; not part of `make test`
MUTATE_STAMP := $(VENV)/.installed-mutate-stamp
$(MUTATE_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[test,mutate]'
	@touch $(MUTATE_STAMP)

mutate: $(MUTATE_STAMP)
	$(BIN)/python tools/mutate.py $(MUTATE_ARGS)

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) demo_data demo.duckdb reports .pytest_cache
