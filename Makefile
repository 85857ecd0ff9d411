# On a fresh machine with Python 3.11 and make: `make run`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip --quiet --disable-pip-version-check

# The locks pin every package, with hashes, for CPython 3.11 on Linux x86_64:
# requirements.lock is what the Docker image installs (no test tools, no
# embedded PostgreSQL); requirements-dev.lock adds both, at the same versions.
LOCK_FLAGS := --quiet --generate-hashes --python-version 3.11 \
              --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock"
UV_VERSION := 0.13.9
LOCK_TOOLS := .venv-lock
# The build backend is locked too (the installs use no build isolation).
BUILD_REQUIRES := $(PYTHON) -c 'import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'

.PHONY: run test lint migrate bench lock clean browser

# From the lock, hashes required; then the project itself with no dependencies
# of its own to resolve (setuptools, its build backend, is in the lock too).
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes --no-deps -r requirements-dev.lock
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/codegen-bot serve

migrate: $(STAMP)
	$(BIN)/codegen-bot migrate

# The registration tests drive Debian's chromium (Playwright does not download a browser).
browser:
	@command -v chromium >/dev/null || (echo "installing Debian chromium for page tests"; \
		apt-get update -q && apt-get install -y -q chromium)

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# Every benchmark of issue 15 in one sitting, one table (benchmarks/README.md);
# `make bench BENCH_FLAGS=--quick` for one short sitting.
BENCH_FLAGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(BENCH_FLAGS)

# Rewrite both locks from pyproject.toml, keeping the versions already pinned
# where the ranges still allow them; `make lock LOCK_UPGRADE=--upgrade` takes
# the newest release of everything instead.
LOCK_UPGRADE ?=
lock:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/python -m pip --quiet --disable-pip-version-check install uv==$(UV_VERSION)
	$(BUILD_REQUIRES) | $(LOCK_TOOLS)/bin/uv pip compile $(LOCK_FLAGS) $(LOCK_UPGRADE) \
		pyproject.toml - -o requirements.lock
	$(BUILD_REQUIRES) | $(LOCK_TOOLS)/bin/uv pip compile $(LOCK_FLAGS) $(LOCK_UPGRADE) \
		pyproject.toml - --extra test -c requirements.lock -o requirements-dev.lock

clean:
	rm -rf $(VENV) $(LOCK_TOOLS) .pytest_cache .ruff_cache *.egg-info
