# Two commands for a newcomer: `make run` (the sandbox with demo data) and `make test` (the whole suite).
# Both create .venv and install what they need: `make run` only the package, `make test` the package
# with its test extras. Each installs once per change of pyproject.toml (a stamp file per kind of install,
# named after the file's checksum); the test install covers the package too, so `make run` after
# `make test` installs nothing. `make bench` runs the benchmarks (benchmarks/run.py, PostgreSQL up) with a
# stamp of its own: the test extras plus the bench extra (matplotlib, for the charts).

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
CHECKSUM := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(CHECKSUM)
TEST_STAMP := $(VENV)/.installed-$(CHECKSUM)-test
BENCH_STAMP := $(VENV)/.installed-$(CHECKSUM)-bench
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check

# Removes the stamps of earlier pyproject.toml versions (their installs are out of date).
define forget_old_stamps
	@for stamp in $(VENV)/.installed-*; do \
	  case "$$stamp" in $(STAMP)|$(TEST_STAMP)|$(BENCH_STAMP)) ;; *) rm -f "$$stamp" ;; esac; \
	done
endef

.PHONY: run test lint format install install-test bench audit clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e .
	$(forget_old_stamps)
	@touch $(STAMP)

$(TEST_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[test]'
	$(forget_old_stamps)
	@touch $(STAMP) $(TEST_STAMP)

$(BENCH_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[test,bench]'
	$(forget_old_stamps)
	@touch $(STAMP) $(TEST_STAMP) $(BENCH_STAMP)

install: $(STAMP)

install-test: $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/sandbox up

# Debian packages the tests use: xmlsec1 (pysaml2's signature backend, for the SP certified in the tests)
# and chromium (the real browser the console tests drive through Playwright)
TEST_DEBIAN_PACKAGES := xmlsec1 chromium

# `make test` runs the registry-only audit (scripts/audit_dependencies.py: every installed package at its
# latest release against the vulnerability data of PyPI's project JSON, the one part of PyPI our CI reaches).
# `make audit` is the full check, for where OSV is reachable: pip-audit over everything installed in .venv
# (pip-audit in a venv of its own, so it audits only the sandbox's set). See docs/security.md, "Dependencies".
AUDIT_VENV := .venv-audit
AUDIT_TOOL := pip-audit==2.10.1

audit: $(TEST_STAMP)
	@test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && \
	  $(AUDIT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check '$(AUDIT_TOOL)'; }
	$(AUDIT_VENV)/bin/pip-audit --strict --skip-editable \
	  --path "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/audit_dependencies.py
	scripts/debian-packages.sh $(TEST_DEBIAN_PACKAGES)
	scripts/with-test-services.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

# BENCH_ARGS go to benchmarks/run.py: --quick, --only NAME…, --report-only; results in benchmarks/results/
bench: $(BENCH_STAMP)
	scripts/with-test-services.sh $(BIN)/python benchmarks/run.py $(BENCH_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(TEST_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .sandbox .pytest_cache .ruff_cache
