# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create .venv once from the pyproject files and reuse it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYPROJECTS := pyproject.toml adapters/backtrader/pyproject.toml adapters/vectorbt/pyproject.toml

.PHONY: test demo bench soak lint typecheck unit clean

$(STAMP): $(PYPROJECTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" -e "adapters/backtrader[test]" -e "adapters/vectorbt[test]"
	touch $(STAMP)

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/pymt5 demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Five minutes of ticks to five clients; fails when memory grows (not part of `make bench`).
soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py --clients 5 --seconds 300 --symbols 25 --interval 10

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
