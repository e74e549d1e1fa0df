# jupyter-hybrid: `make run` starts the demo hub, `make test` runs every test.
# Both install what they need first (Python venv, node packages, the labextension build, chromium).

VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMPS := .make
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(abspath $(BIN)):$(abspath node_modules/.bin):$(PATH)

.PHONY: run test install lint pytest bench clean

run: install  ## start JupyterHub on http://127.0.0.1:8000 (demo login: any user, printed password)
	$(BIN)/jupyterhub -f hub_config/jupyterhub_config.py

test: install lint pytest  ## lint + every test (unit, server extension, real hub, real browser)

install: $(STAMPS)/python $(STAMPS)/system $(STAMPS)/postgresql jupyter_hybrid/labextension/package.json

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/jlpm lint:check

pytest: install
	$(PY) -m pytest -ra

bench: install  ## spawn latency, ours vs JupyterHub's SimpleLocalProcessSpawner
	$(PY) benchmarks/spawn_latency.py

$(STAMPS)/venv:
	@command -v node >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q nodejs npm; }
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@mkdir -p $(STAMPS) && touch $@

# the editable install runs `jlpm install` and builds the labextension (hatch-jupyter-builder)
$(STAMPS)/python: $(STAMPS)/venv pyproject.toml package.json yarn.lock
	@# `labextension develop` (below) links the venv's copy to our build folder: a later pip install
	@# would write install.json through that link into the build folder, and the next one then fails
	rm -rf $(VENV)/share/jupyter/labextensions/jupyter-hybrid jupyter_hybrid/labextension/install.json
	$(PY) -m pip install -q -e ".[test]"
	$(BIN)/jupyter labextension develop --overwrite .
	$(BIN)/jlpm install
	@touch $@

jupyter_hybrid/labextension/package.json: $(STAMPS)/python $(wildcard labextension/src/*.ts labextension/style/*)
	$(BIN)/jlpm build
	@touch $@

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser)
$(STAMPS)/system:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }
	@mkdir -p $(STAMPS) && touch $@

# a real PostgreSQL for the store's tests (each test run starts a throwaway cluster in a temp dir)
$(STAMPS)/postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }
	@mkdir -p $(STAMPS) && touch $@

clean:
	rm -rf $(STAMPS) lib jupyter_hybrid/labextension tsconfig.tsbuildinfo .hub-state ui-artifacts
