# authgate — the only entry point: `make demo`, `make test`, `make lint`, `make bench`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUM    := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# What `make demo` needs (the package and every integration), and what `make test` adds.
RUNTIME_STAMP := $(VENV)/.installed-runtime-$(SUM)
DEV_STAMP     := $(VENV)/.installed-dev-$(SUM)
# Two cores on CI: one pytest worker per core.
PYTEST_WORKERS ?= 2
# The browser tests: Debian's Chromium (driven by Playwright, never a browser download).
CHROMIUM   := /usr/bin/chromium

.PHONY: install demo test lint typecheck bench clean browser

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The demo needs no test or lint tools: `.[all]` only.
$(RUNTIME_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e ".[all]"
	rm -f $(VENV)/.installed-runtime-*
	touch $(RUNTIME_STAMP)

# Installed without their dependencies (listed in the dev extra instead): Flask-User and
# auth101 require the `passlib` distribution, whose module the dev extra's libpass
# provides (two distributions writing one module break each other); the adapter pins
# SQLAlchemy below 2.1, which authgate supports. Flask-User's releases are yanked: pinned.
IMPORT_PEERS := "Flask-User==1.0.2.2" "auth101==0.3.1" "fastapi-users-db-sqlalchemy==7.0.0"

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	$(BIN)/python -m pip install -q --no-deps $(IMPORT_PEERS)
	rm -f $(VENV)/.installed-*
	touch $(RUNTIME_STAMP) $(DEV_STAMP)

install: $(DEV_STAMP)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src

typecheck: install
	$(BIN)/mypy

test: lint typecheck browser
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

# Chromium (Debian's; never a browser download) for the browser tests.
browser:
	@test -x $(CHROMIUM) || (apt-get install -y -q chromium \
	  || (apt-get update -q && apt-get install -y -q chromium))

bench: install
	$(BIN)/python bench/run.py

demo: $(RUNTIME_STAMP)
	$(BIN)/authgate demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist
