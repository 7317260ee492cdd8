# evalcache: the README's two commands are `make report` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EC     := $(BIN)/evalcache

# SCALE: the data set seeded into the configured database: the default sweep's classic cells
# run at scale 1 (10k users), so they copy it as is; runs at other scales (the sweep's model
# checks and load cells) copy sibling templates the runner seeds itself.
# SEED, AS_OF: the data's random seed and reference date (every seeded timestamp is relative
# to AS_OF): fixed, so the data, and the figures, do not depend on the day `make report` runs.
# Templates the runner seeds for other scales take this AS_OF and seed 42 (README.md).
SCALE  ?= 1
SEED   ?= 42
AS_OF  ?= 2025-01-06
SWEEP  ?= sweeps/default.yaml
RUNS   ?= runs

.PHONY: help env report report-steps test lint pytest ci-sweep lab strip-notebooks services-status clean browser

help:
	@echo "make report  - environment, services, seed, default sweep, HTML reports (reports/index.html)"
	@echo "make test    - environment, lint (ruff, mypy) and the whole test suite"
	@echo "make lab     - JupyterLab on notebooks/ with the project's environment"
	@echo "make strip-notebooks - clear outputs and run metadata from notebooks/ before committing"

# The environment is rebuilt only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "evalcache needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,peers]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "evalcache" >/dev/null
	@touch $(STAMP)

env: $(STAMP)

report: env
	$(EC) services run -- $(MAKE) --no-print-directory report-steps

# Runs with EVALCACHE_DATABASE_URL / EVALCACHE_REDIS_URL exported by `services run`.
report-steps:
	$(EC) seed --scale $(SCALE) --seed $(SEED) --as-of $(AS_OF) --reset
	# a failed cell is reported and still leaves the others' reports; the status says it failed
	status=0; $(EC) sweep $(SWEEP) --out $(RUNS)/default || status=$$?; \
	$(EC) report --sweep $(RUNS)/default --out reports && exit $$status

lint: env
	$(BIN)/ruff check evalcache tests seed notebooks
	$(BIN)/ruff format --check evalcache tests seed notebooks
	$(BIN)/mypy

# Headless Chromium for the report test (Debian's package; needs root and apt).
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium missing: install Debian's 'chromium' package for the report test"; fi; }

pytest: env browser
	$(BIN)/pytest

test: lint pytest

# Jupyter refuses to run as root unless told; the kernel is the project's environment.
lab: env
	$(EC) services run -- $(BIN)/jupyter lab --notebook-dir=notebooks --no-browser \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# The notebooks are the source and are committed stripped (tests/report/test_notebooks.py checks):
# no outputs or execution counts; metadata only papermill's `parameters` tag and the kernelspec.
strip-notebooks: env
	$(BIN)/jupyter nbconvert --to notebook --inplace --log-level=WARN \
		--ClearOutputPreprocessor.enabled=True --ClearMetadataPreprocessor.enabled=True \
		--ClearMetadataPreprocessor.preserve_cell_metadata_mask=tags \
		--ClearMetadataPreprocessor.preserve_nb_metadata_mask=kernelspec notebooks/*.ipynb

services-status: env
	$(EC) services status

clean:
	rm -rf $(RUNS) reports/*.html .pytest_cache .mypy_cache .ruff_cache
