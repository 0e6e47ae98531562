# Two commands for a newcomer: `make run` (the sandbox with demo data) and `make test` (the whole suite).
# Both create .venv and install what they need.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint format install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/sandbox up

# Debian packages the tests use: xmlsec1 (pysaml2's signature backend, for the SP certified in the tests)
TEST_DEBIAN_PACKAGES := xmlsec1

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	scripts/debian-packages.sh $(TEST_DEBIAN_PACKAGES)
	scripts/with-test-services.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .sandbox .pytest_cache .ruff_cache
