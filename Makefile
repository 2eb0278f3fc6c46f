# make demo  - set everything up, start the simulator, crawl products then comments
# make test  - set everything up and run the test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt scripts/setup-system.sh | sha1sum | cut -c1-12)

.PHONY: setup browser demo test lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt scripts/setup-system.sh
	bash scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

# Debian's Chromium (about 350 MB), only for the dashboard spider and its tests:
# `make test` installs it, `make demo` does without
browser:
	bash scripts/install-chromium.sh

demo: setup
	$(PY) scripts/demo.py

# the gates first (seconds), then the suite: CI runs exactly this
test: setup browser lint
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# the benchmarks (README "Benchmarks"): medians of 3 interleaved runs, a markdown table, figures
# in bench/results/; BENCH_ARGS="--only cpu --repeats 5" narrows it down
bench: setup
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf output crawls .pytest_cache
