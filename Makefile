# The two commands: `make run` and `make test`.  Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench soak clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Cairn needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Start a one-validator devnet on the built-in genesis (data in .devnet/, RPC on 127.0.0.1:26657).
run: $(STAMP)
	$(BIN)/cairn devnet --home .devnet

## Run the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest -q

## ruff, mypy and the import contracts (pure packages never import node, trio or plyvel).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m tests.tools.check_purity

## Benchmarks; figures go to docs/BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python -m bench

## Long randomized runs (simulator seeds, crash loops); not part of make test.
soak: $(STAMP)
	CAIRN_SOAK=1 $(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) .devnet .pytest_cache .mypy_cache .ruff_cache
