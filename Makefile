# Everything a fresh machine needs is installed by these targets (Python 3.10+ required).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test notebooks bench clean

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is required"'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,notebooks]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tiktok-portability demo

test: $(STAMP)
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
