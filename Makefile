# The two commands: `make demo` and `make test`. Each creates .venv if missing and
# installs the project once; a second run reuses it (the stamp tracks pyproject.toml).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TFTRADE_HOME ?= $(CURDIR)/.tftrade-home
export TFTRADE_HOME

.PHONY: demo test install lint bench clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tftrade demo

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 -q

# The dashboard's browser test drives Debian's chromium through Playwright; install it when we can (root + apt).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium not installed: the dashboard's browser test will skip (and fail under CI=true)"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) .tftrade-home .pytest_cache

# Peer benchmark: pytorch-forecasting 1.8.0 needs an older pandas, so it lives in its own venv.
# torch is pinned first (its CPU wheel is on disk; any other version would download GBs).
BENCH_VENV := .venv-bench

$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet torch==2.13.0
	$(BENCH_VENV)/bin/pip install --quiet torch==2.13.0 pytorch-forecasting==1.8.0 pyarrow
	touch $(BENCH_VENV)/.installed

.PHONY: bench-venv bench-tft
bench-venv: $(BENCH_VENV)/.installed

bench-tft: $(STAMP) $(BENCH_VENV)/.installed
	$(BIN)/python benchmarks/tft_vs_peer.py --peer-python $(BENCH_VENV)/bin/python

# Backtest peer benchmark (issue #5): vectorbt and backtrader fit .venv's pins (pip --dry-run
# changes nothing pinned), so they are installed into .venv itself.
.PHONY: bench-backtest
bench-backtest: $(STAMP)
	$(BIN)/pip install --quiet vectorbt==1.2.0 backtrader==1.9.78.123
	$(BIN)/python benchmarks/backtest_vs_peers.py
