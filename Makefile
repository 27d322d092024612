# The two commands: `make run` and `make test`.  Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run demo test lint bench soak floods clean venv toolchain contracts browser

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Cairn needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Start a one-validator devnet on the built-in genesis and the reference provider beside it (data in .devnet/, RPC on 127.0.0.1:26657).
run: $(STAMP)
	$(BIN)/cairn devnet --home .devnet

## The AICF worked example against `make run`'s devnet (run that first, in another terminal): an AI and a quantum job, their payouts proved against a signed header, a cheating provider slashed.
demo: $(STAMP) toolchain
	$(BIN)/python -m node.demo

## clang and wasm-ld for the contract SDK (Debian packages clang, lld), installed when missing.
toolchain:
	@command -v clang >/dev/null && command -v wasm-ld >/dev/null || { \
	  echo "installing clang and lld (the contract SDK's compiler and linker)"; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get install -y -q clang lld >/dev/null || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q clang lld >/dev/null; }; }

## Headless Chromium for the dashboard's browser test (Debian package chromium; Playwright drives it, it downloads no browser), installed when missing.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing chromium (the dashboard test's headless browser)"; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get install -y -q chromium >/dev/null || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }; }

## Build the sample contracts from source with the SDK into contracts/build/ (checks the build is reproducible).
contracts: $(STAMP) toolchain
	$(BIN)/python contracts/build.py contracts/build --check-reproducible

## Run the whole test suite.
test: $(STAMP) toolchain browser
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

## A 4-validator devnet under each flood of the red team's report; figures for docs/RELIABILITY.md.
floods: $(STAMP)
	$(BIN)/python -m bench.floods

## Long randomized runs: 2,000 Hypothesis examples, 2,000 simulator seeds, 40 crash rounds.
soak: $(STAMP)
	CAIRN_SOAK=1 CAIRN_SIM_SEEDS=2000 CAIRN_CRASH_ROUNDS=40 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .devnet .pytest_cache .mypy_cache .ruff_cache contracts/build
