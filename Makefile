# Two commands: `make run` (the main job, embedded defaults) and `make test` (installs
# everything the tests need, then runs the whole suite).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CODOR  := $(VENV)/bin/codor

.PHONY: run example test install system-deps npm-deps lint typecheck unit bench corpus clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m compileall -q src/codor   # hooks start fast even where PYTHONDONTWRITEBYTECODE is set
	touch $@

install: $(VENV)/.installed

## The main job: the daemon (API + dashboard) on a demo workspace, with a scripted agent session
## played through the real hooks against it; it keeps serving until Ctrl-C.
run: install
	$(CODOR) demo --serve

## The bundled example session decided offline, one line per action (no daemon).
example: install
	$(CODOR) check --pretty --policy codor:default --workspace examples/workspace examples/session.jsonl

system-deps:
	./scripts/install-system-deps.sh

## Real third-party MCP servers for the gateway tests and the JS test runners the claims tests
## run (pinned in tests/npm/package-lock.json). `npm install` honours the lock; `npm ci` refuses
## this lock (npm reports optional platform bindings of jest's resolver as missing).
npm-deps: tests/npm/node_modules/.installed

tests/npm/node_modules/.installed: tests/npm/package.json tests/npm/package-lock.json
	cd tests/npm && npm install --no-audit --no-fund --loglevel=error
	touch $@

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -q

test: system-deps install npm-deps lint typecheck unit

## Benchmarks (not part of `make test`): results go to benchmarks/results/*.json
bench: install
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/policy_eval.py
	$(PY) benchmarks/policy_load.py
	$(PY) benchmarks/ledger.py
	$(PY) benchmarks/hooks.py
	$(PY) benchmarks/gateway.py
	$(PY) benchmarks/claims.py
	$(PY) benchmarks/tokens.py
	$(PY) benchmarks/server.py --soak 300

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
