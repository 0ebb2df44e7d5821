# The two commands a newcomer needs: `make demo` and `make test`.
# Both build a private virtualenv in .venv first, so nothing else has to be installed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench install clean

# setuptools prints a note on every editable install of a top-level package ("be careful
# with folders …"); only that note is hidden, so a real warning (a deprecation) still shows.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install --quiet -e '.[dev,bench]'
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
