# The two commands of the README: `make dev` (local stack) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
API_PORT ?= 3000
WS_PORT ?= 3001

.PHONY: dev test lint bench build deploy lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever a requirements or constraints file changes.
$(STAMP): $(BIN)/python requirements/*.txt layers/dependencies/requirements.txt pyproject.toml
	$(BIN)/pip install -q --disable-pip-version-check -c requirements/constraints.txt -r requirements/dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

dev: $(STAMP)
	$(BIN)/python -m compileall -q shared adapters functions local
	API_PORT=$(API_PORT) WS_PORT=$(WS_PORT) $(BIN)/python -m local

# Bytecode first: the local stack imports handlers on worker threads, and compiling source on
# several threads at once can trip CPython 3.11's AST recursion check (PYTHONDONTWRITEBYTECODE
# environments would otherwise compile on every import).
test: $(STAMP) lint
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m compileall -q shared adapters functions local tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff's lint rules over the tree, mypy --strict over shared/ (both configured in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The peers of bench/engine_vs_peers.py need a newer numpy than the Lambda pin: that script
# builds its own bench/.venv-peers from requirements/bench.txt.
bench: $(STAMP)
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/package_size.py
	$(BIN)/python bench/engine_vs_peers.py

build:
	sam build

deploy: build
	sam deploy --guided

lock: $(BIN)/python
	$(BIN)/pip freeze --exclude-editable > requirements/constraints.txt

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache
