# Two commands for a newcomer: `make demo` runs the quickstart locally, `make test` runs the checks and the tests.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint system-deps bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

system-deps:
	./scripts/install-system-deps

demo: $(VENV)/.installed
	@$(BIN)/wrapper invoke configs/echo.yaml --event '{"hello": "world!"}'

# lint and types first: they take seconds, the tests minutes (settings in pyproject.toml)
lint: $(VENV)/.installed
	$(BIN)/ruff check wrapper tests benchmarks
	$(BIN)/mypy

test: lint system-deps
	$(BIN)/python -m pytest

bench: $(VENV)/.installed system-deps
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
