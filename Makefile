# The two commands of the README: `make demo` and `make test`. Both install from the committed lock
# (requirements/*.txt, exact versions with hashes; docs/adr/0009-dependency-lock.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
# Exact versions and hashes only: nothing outside the lock is resolved or downloaded.
LOCKED := install -q --require-hashes --no-deps
# uv pip compile for every lock file: one resolution for all Pythons >= 3.11 and platforms.
COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 $(LOCK_UPGRADE)

.PHONY: demo test venv venv-service system-deps lint lock lock-upgrade test-latest

$(BIN)/python:
	$(PY) -m venv $(VENV)

# The package itself, editable, without resolving anything (its build tools come from the lock).
$(VENV)/.installed-%: requirements/%.txt pyproject.toml | $(BIN)/python
	$(PIP) $(LOCKED) -r requirements/$*.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $@

venv-service: $(VENV)/.installed-service
venv: $(VENV)/.installed-test

system-deps:
	bash scripts/system-deps.sh
	bash scripts/player-deps.sh

demo: venv-service
	$(BIN)/sidecar demo

test: system-deps venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check sidecar tests bench dashboards alerts
	$(BIN)/mypy

# Re-lock after editing the ranges in pyproject.toml: keeps every pin that still satisfies them.
# test.txt is resolved first (everything); the others are constrained to it, so shared packages
# always have one version across the service, the load test and the tests.
lock: venv
	$(COMPILE) pyproject.toml requirements/build.in --extra test --extra loadtest -o requirements/test.txt
	$(COMPILE) pyproject.toml requirements/build.in -c requirements/test.txt -o requirements/service.txt
	$(COMPILE) pyproject.toml requirements/build.in --extra loadtest -c requirements/test.txt -o requirements/loadtest.txt

# Move every pin to the newest version its range allows.
lock-upgrade:
	$(MAKE) lock LOCK_UPGRADE=--upgrade

# Drift check, not part of CI: the newest versions the ranges allow, in a throw-away venv.
test-latest: system-deps
	rm -rf $(VENV)-latest
	$(PY) -m venv $(VENV)-latest
	$(VENV)-latest/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(VENV)-latest/bin/python -m pip install -q --disable-pip-version-check --upgrade -e '.[test,loadtest]'
	$(VENV)-latest/bin/python -m pip freeze --exclude-editable > $(VENV)-latest/resolved.txt
	@echo "testing with the versions in $(VENV)-latest/resolved.txt"
	SIDECAR_TEST_UNLOCKED=1 $(VENV)-latest/bin/python -m pytest -q
