# authgate — the only entry point: `make demo`, `make test`, `make lint`, `make bench`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Two cores on CI: one pytest worker per core.
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

bench: install
	$(BIN)/python bench/run.py

demo: install
	$(BIN)/authgate demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist
