# The README's commands. Everything installs into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint format init clean bench bench-scale soak bytecode

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The package compiled to bytecode once, here. Where PYTHONDONTWRITEBYTECODE is set (our
# machines set it) Python reads bytecode but never writes it: without this step every command,
# worker and test subprocess compiled each module it imported, every time (129 modules, 0.23 s
# of the 1.1 s `registry stats` took). A module changed since is compiled in memory, as before.
bytecode: install
	$(BIN)/python -m compileall -q registry

init: bytecode
	$(BIN)/registry init --demo

run: init
	$(BIN)/registry serve --host $(HOST) --port $(PORT)

# pytest on PYTEST_WORKERS processes (pytest-xdist); tests/browser and tests/deploy each run
# whole on one of them (tests/conftest.py). PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2
test: bytecode
	$(BIN)/ruff check registry tests
	$(BIN)/ruff format --check registry tests
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check registry tests
	$(BIN)/ruff format --check registry tests
	$(BIN)/python -m mypy
	$(BIN)/python -m bandit -q -r registry --severity-level high --confidence-level all
	$(BIN)/python -m bandit -q -r registry --severity-level medium --confidence-level high

format: install
	$(BIN)/ruff format registry tests
	$(BIN)/ruff check --fix registry tests

clean:
	rm -rf $(VENV) instance/registry.db instance/index

# Extract the Chinese source strings (babel.cfg) into messages.pot, merge them into the English
# catalogue, and compile it; translate any new or fuzzy msgid in the .po, then run it again.
.PHONY: translations
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l --no-wrap --sort-by-file \
		--project=telecom-credit-registry --copyright-holder="Telecom credit registry contributors" \
		-o registry/translations/messages.pot .
	$(BIN)/pybabel update -i registry/translations/messages.pot -d registry/translations \
		--no-wrap --ignore-obsolete --no-fuzzy-matching
	$(BIN)/pybabel compile -d registry/translations --statistics

# Not part of `make test`: our app against hello-world Flask and Datasette, written
# to docs/PERFORMANCE.md. BENCH_FIRMS (default 100000), BENCH_DURATION (s per workload, 10).
bench: bytecode
	$(BIN)/pip install -q -e '.[test,bench]'
	command -v wrk >/dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk) \
		|| sudo apt-get install -y wrk
	$(BIN)/python bench/run.py

# Not in CI: data, import, reindex and uncached search at BENCH_FIRMS (run it at 100000 first,
# then e.g. BENCH_FIRMS=1000000), written into the Scale section of docs/PERFORMANCE.md.
BENCH_FIRMS ?= 100000
bench-scale: bytecode
	$(BIN)/pip install -q -e '.[test,bench]'
	BENCH_ONLY=scale BENCH_FIRMS=$(BENCH_FIRMS) $(BIN)/python bench/run.py

# Not part of `make test`: kill -9 the import and the server mid-upload 200 times each (REGISTRY_SOAK_KILLS) and send
# the whole hostile corpus to every parameter and field (REGISTRY_SOAK=1).
SOAK_KILLS ?= 200
soak: install
	REGISTRY_SOAK=1 REGISTRY_SOAK_KILLS=$(SOAK_KILLS) $(BIN)/python -m pytest -p no:cacheprovider \
		tests/test_crash.py tests/test_crash_upload.py tests/test_hostile_input.py tests/test_uploads.py \
		tests/test_concurrent_writers.py
