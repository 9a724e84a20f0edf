# The interface to the project. Only python3 and make are needed on a fresh machine:
# the first target that needs the environment builds .venv from uv.lock.
SHELL := /bin/bash
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synced

# Keep every run offline and quiet, and Prefect's state inside the project.
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1
export DO_NOT_TRACK := 1
# Tests start many interpreters (pytest's workers, the command line as a process): each reads
# cached bytecode (in __pycache__ folders, which git ignores) instead of compiling the project
# and re-writing every test module's asserts, even where the shell asks Python not to write it.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo test test-fast lint format bench bench-linkage bench-responses notebook clean setup

setup: $(STAMP)

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Re-sync whenever the lock, the project metadata or this file changes (a stale venv is
# rebuilt). Installed packages are compiled to bytecode once here: uv leaves them as source,
# and every process would compile what it imports again (Hypothesis and Matplotlib wholly).
$(STAMP): uv.lock pyproject.toml Makefile | $(UV)
	$(UV) sync --frozen --python python3 --quiet --compile-bytecode
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/whereabouts demo

# CI runs `make test`: every lint check first, so a type or SQL style error fails the build.
test: lint
	$(PY) -m pytest -n 2 -q

# Unit and SQL tests only (no Prefect flows, pipeline processes or data at scale), the
# quick loop while working: 80-89 s here over a day (2 cores, 1,105 tests). Property tests
# draw a tenth of their examples here (tests/conftest.py, examples). Temporary files go to
# memory where the machine has /dev/shm: the tests' small DuckDB files commit hundreds of
# times, each commit a sync. worksteal: an idle worker takes queued tests from the busy one.
FAST_TMP := $(shell test -w /dev/shm && echo /dev/shm || echo "$${TMPDIR:-/tmp}")
test-fast: $(STAMP)
	WHEREABOUTS_TESTS=fast TMPDIR=$(FAST_TMP) $(PY) -m pytest -n 2 --dist worksteal -q \
		-m "unit or sql" tests/unit tests/sql

# Ruff (style, complexity), mypy on the package (settings in pyproject.toml) and sqlfluff on
# the SQL models (.sqlfluff); .pre-commit-config.yaml runs the same checks at each commit.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/sqlfluff lint pipelines/warehouse/sql

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The pipeline's benchmark, linkage at national scale, then how long a user waits for an
# answer (docs/benchmarks.md, all three).
bench: $(STAMP)
	$(PY) -m benchmarks.bench
	$(PY) -m benchmarks.linkage
	$(PY) -m benchmarks.responses

bench-linkage: $(STAMP)
	$(PY) -m benchmarks.linkage

bench-responses: $(STAMP)
	$(PY) -m benchmarks.responses

# JupyterLab on the analysts' notebook, from the optional `notebook` extra (only on demand:
# the pipeline and its tests never need it). Served on 127.0.0.1 only.
notebook: $(STAMP)
	$(UV) sync --frozen --python python3 --quiet --extra notebook
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 notebooks/at_risk_and_repeat_missing.ipynb

clean:
	rm -rf $(VENV) $(TOOLS) .prefect data/work/* data/curated/*.duckdb reports/briefings/* reports/validation/*
