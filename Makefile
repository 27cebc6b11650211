# Model Factory: `make run` (the main job on the local stack) and `make test` (the tests).
# Both install what they need first (`make setup`), idempotently.
SHELL := /bin/bash
VENV := .venv
# the local fleet `make run` rolls out to: N devices, one of them arm64 (docs/edge.md); FLEET=0: none
FLEET ?= 4
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp

.PHONY: setup system-deps bases run test test-slow test-all lint bench lock up down clean

setup: $(STAMP) node_modules/.bin/azurite-blob node_modules/.bin/pyright system-deps

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

node_modules/.bin/azurite-blob node_modules/.bin/pyright &: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch node_modules/.bin/azurite-blob node_modules/.bin/pyright

# podman + runc (no Docker daemon here), skopeo, Distribution registry, debootstrap for the offline base image.
system-deps:
	@bash scripts/install-system-deps.sh

run: setup
	$(VENV)/bin/model-factory run --all --auto-approve --fleet $(FLEET)

up: setup
	$(VENV)/bin/model-factory up

down:
	$(VENV)/bin/model-factory down

# every core; a module's tests stay on one worker (--dist loadfile), so a module-scoped fixture (a trained model)
# is made once
test: setup
	$(VENV)/bin/ruff check .
	node_modules/.bin/pyright -p pyproject.toml
	$(PY) -m pytest -m "not slow" -q -n auto --dist loadfile --durations=40

# the local base images (amd64, arm64: assembled from Debian packages without emulation, about a minute each),
# built once per machine and cached in podman's image store; before the slow tests so no test's time limit
# is spent on them
bases: setup
	$(PY) -m factory.adapters.local.base_image

# tests that share a session fixture (the e2e stack, the edge simulator) share a worker (tests/conftest.py). Two
# workers on two cores: a third (tried on a fresh clone) kept the cores 85 % busy, but every test ran about 1.4x
# slower, the end-to-end group most, and that group is one worker's sequence: the slow phase took as long.
SLOW_WORKERS ?= 2
# in an image store of its own, removed afterwards (scripts/own-container-store.sh: a machine store grown by earlier
# runs made every build several times slower)
test-slow: setup bases
	PYTHON=$(PY) bash scripts/own-container-store.sh $(PY) -m pytest -m slow -q -n $(SLOW_WORKERS) --dist loadgroup \
	  --durations=40

test-all: test test-slow

lint: setup
	$(VENV)/bin/ruff check .
	node_modules/.bin/pyright -p pyproject.toml

bench: setup
	$(PY) bench/devhost.py

# Re-resolve every dependency set (modelkit/environments/*/requirements.txt) into its requirements.lock, with
# the sha256 of each wheel for linux/amd64 and linux/arm64. Commit the result.
lock: setup
	$(PY) -m factory.packaging.deps

clean:
	rm -rf .factory .pytest_cache
