# The two commands of the README: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test venv system-deps lint

$(BIN)/python:
	$(PY) -m venv $(VENV)

venv: $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'

system-deps:
	bash scripts/system-deps.sh
	bash scripts/player-deps.sh

demo: venv
	$(BIN)/sidecar demo

test: system-deps venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check sidecar tests bench dashboards alerts
	$(BIN)/mypy
