# `make demo` and `make test` install what is needed (tools/install.sh, idempotent) and then run.
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
export VENV

.PHONY: install demo test lint bench-cpu

install:
	bash tools/install.sh

demo: install
	PYTHONUNBUFFERED=1 $(PYTHON) demo/false_synthetic_demo.py

# two test processes: CI's two cores (the tests split torch's threads between them, tests/helpers/session.py)
TEST_PROCESSES ?= 2

test: install lint
	$(PYTHON) -m pytest tests -q -n $(TEST_PROCESSES)

lint: install
	$(PYTHON) -m ruff check .

bench-cpu: install
	$(PYTHON) bench/bench_false.py --device cpu
