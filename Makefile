# The two commands of the README: `make dev` (local stack) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
API_PORT ?= 3000
WS_PORT ?= 3001
# Template parameters for the local stack, as `sam deploy --parameter-overrides` takes them.
PARAMETER_OVERRIDES ?=
WEB_PORT ?= 3002
WEB_SOURCES := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)

.PHONY: dev test lint bench build deploy publish-web lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever a requirements or constraints file changes.
$(STAMP): $(BIN)/python requirements/*.txt layers/dependencies/requirements.txt pyproject.toml
	$(BIN)/pip install -q --disable-pip-version-check -c requirements/constraints.txt -r requirements/dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

dev: $(STAMP) web/dist/index.html
	$(BIN)/python -m compileall -q shared adapters functions local
	API_PORT=$(API_PORT) WS_PORT=$(WS_PORT) WEB_PORT=$(WEB_PORT) PARAMETER_OVERRIDES="$(PARAMETER_OVERRIDES)" $(BIN)/python -m local

# The dashboard: Node packages exactly as locked, then the static build `make dev` serves.
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build

# Bytecode first: the local stack imports handlers on worker threads, and compiling source on
# several threads at once can trip CPython 3.11's AST recursion check (PYTHONDONTWRITEBYTECODE
# environments would otherwise compile on every import).
test: $(STAMP) lint web/dist/index.html
	$(BIN)/cfn-lint template.yaml
	$(BIN)/bandit -q -ll -r shared adapters functions local
	$(BIN)/python tools/pip_audit_report.py -r layers/dependencies/requirements.txt -r requirements/dev.txt
	$(BIN)/python -m compileall -q shared adapters functions local tests bench tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	cd web && npm test
	@test -x /usr/bin/chromium || { echo "the dashboard's end-to-end test needs /usr/bin/chromium (apt-get install -y chromium)"; exit 1; }
	cd web && node e2e/run.mjs

# ruff's lint rules and its formatter (check only) over the tree, mypy --strict over shared/ (pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The peers of bench/engine_vs_peers.py need a newer numpy than the Lambda pin: that script
# builds its own bench/.venv-peers from requirements/bench.txt.
bench: $(STAMP)
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/package_size.py
	$(BIN)/python bench/engine_vs_peers.py

build:
	sam build

deploy: build web/dist/index.html
	sam deploy --guided
	$(MAKE) publish-web

# The dashboard's files into the stack's WebBucket (config.json is the stack's own: WebConfig),
# then CloudFront drops its cached index.html (assets are content-hashed).
STACK ?= $(shell sed -n 's/^stack_name *= *"\(.*\)"/\1/p' samconfig.toml | head -1)
publish-web: web/dist/index.html
	bucket=$$(aws cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs[?OutputKey=='WebBucketName'].OutputValue" --output text) && \
	distribution=$$(aws cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs[?OutputKey=='WebDistributionId'].OutputValue" --output text) && \
	aws s3 sync web/dist "s3://$$bucket" --delete --exclude config.json && \
	aws cloudfront create-invalidation --distribution-id "$$distribution" --paths /index.html

lock: $(BIN)/python
	$(BIN)/pip freeze --exclude-editable > requirements/constraints.txt

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache web/node_modules web/dist
