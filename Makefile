# The two commands a newcomer needs: `make demo` and `make test`.
# Both build a private virtualenv in .venv first, so nothing else has to be installed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/scribe demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The checks CI runs before the tests: ruff (style and likely bugs) and mypy (types; strict
# on the pure cores). Both are configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check bot bench tests
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
