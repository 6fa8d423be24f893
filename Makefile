# Two commands: `make up` runs the stack, `make test` runs every test. Both install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install up test lint bench schemas clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

up: install
	$(BIN)/stoa up

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install lint
	$(BIN)/pytest -q -p no:cacheprovider

bench: install
	for name in commands presence archive mixer media-latency whep ingest; do \
		$(BIN)/stoa bench $$name || exit 1; \
	done

schemas: install
	$(BIN)/stoa schemas

clean:
	rm -rf $(VENV) .stoa .mypy_cache .ruff_cache
