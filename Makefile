# `make demo` and `make test` install what is needed (tools/install.sh, idempotent) and then run.
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
export VENV

.PHONY: install demo test lint bench-cpu

install:
	bash tools/install.sh

demo: install
	PYTHONUNBUFFERED=1 $(PYTHON) demo/false_synthetic_demo.py

test: install lint
	$(PYTHON) -m pytest tests -q

lint: install
	$(PYTHON) -m ruff check .

bench-cpu: install
	$(PYTHON) bench/bench_false.py --device cpu
