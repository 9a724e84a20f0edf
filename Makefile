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

.PHONY: demo test test-fast lint format bench clean setup

setup: $(STAMP)

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Re-sync whenever the lock or the project metadata changes (a stale venv is rebuilt).
$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python python3 --quiet
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/whereabouts demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n 2 -q

# Unit and SQL tests only (no Prefect flows, subprocesses or data at scale): under 90 s.
# worksteal: an idle worker takes queued tests from the busy one.
test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist worksteal -q -m "unit or sql" tests/unit tests/sql

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) -m benchmarks.bench

clean:
	rm -rf $(VENV) $(TOOLS) .prefect data/work/* data/curated/*.duckdb reports/briefings/* reports/validation/*
