# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test bench lint screenshots clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

install: $(VENV)/.installed

## make demo: the sandbox (three stand-in upstreams with seeded data) + the orchestrator on :8888
demo: install
	./run_server.sh --demo

## make test: the whole suite (unit, sandbox integration, browser)
test: install
	$(PY) -m pytest

bench: install
	$(PY) -m bench

## README screenshots from a demo-like run (sandbox + orchestrator + Debian's Chromium)
screenshots: install
	$(PY) scripts/screenshots.py

lint: install
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
