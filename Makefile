# The verbs CI runs. `make run` and `make test` work on a fresh clone: they build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench soak services clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/surgewatch dev

services:
	bash scripts/ensure-services.sh

lint: $(STAMP)
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) services lint typecheck
	$(BIN)/pytest

bench: $(STAMP) services
	$(BIN)/python -m bench

soak: $(STAMP) services
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
