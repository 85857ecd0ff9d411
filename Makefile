# On a fresh machine with Python 3.11 and make: `make run`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint migrate bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
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

bench: $(STAMP)
	benchmarks/run.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
