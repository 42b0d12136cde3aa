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

# Translations (Babel, a dev tool): the .po sources and the compiled .mo files both ship.
LOCALE_DIR := src/authgate/locale
LOCALES    := de es fr nl it pt_BR ru tr zh_Hans ja fa
PYBABEL    := $(BIN)/pybabel
# The browser tests: Debian's Chromium and axe-core from npm (tests/package-lock.json).
CHROMIUM   := /usr/bin/chromium
AXE        := tests/node_modules/axe-core/axe.min.js

.PHONY: install demo test lint typecheck bench clean messages catalogs browser docs

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

# Chromium (Debian's; never a browser download) and axe-core for tests/browser.
browser: $(AXE)
	@test -x $(CHROMIUM) || (apt-get install -y -q chromium fonts-noto-core fonts-noto-cjk \
	  || (apt-get update -q && apt-get install -y -q chromium fonts-noto-core fonts-noto-cjk))

$(AXE): tests/package.json tests/package-lock.json
	npm ci --prefix tests --no-audit --no-fund --loglevel=error
	touch $(AXE)

# Extract every message (N_(...) in the code, the templates' text) and merge it into each .po.
messages: install
	$(PYBABEL) extract -F babel.cfg -o $(LOCALE_DIR)/authgate.pot --no-location --sort-output \
	  --project authgate --copyright-holder "authgate developers" -k N_ -k ngettext:1,2 .
	for l in $(LOCALES); do \
	  if [ -f $(LOCALE_DIR)/$$l/LC_MESSAGES/authgate.po ]; then \
	    $(PYBABEL) update -D authgate -i $(LOCALE_DIR)/authgate.pot -d $(LOCALE_DIR) -l $$l \
	      --no-fuzzy-matching --ignore-obsolete; \
	  else $(PYBABEL) init -D authgate -i $(LOCALE_DIR)/authgate.pot -d $(LOCALE_DIR) -l $$l; fi; \
	done

# Compile the .po sources into the .mo files the package reads.
catalogs: install
	$(PYBABEL) compile -D authgate -d $(LOCALE_DIR) --statistics

bench: install
	$(BIN)/python bench/run.py

# The documentation site, offline, into build/site (docs/hooks.py generates the settings,
# endpoints and errors pages from the package itself).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

demo: $(RUNTIME_STAMP)
	$(BIN)/authgate demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist
