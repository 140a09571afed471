# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
DEMO_OUT ?= demo-output

.PHONY: demo test install install-test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: the local CPU wheel. Unpinned, pip would pull a CUDA build.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/polysense demo --out $(DEMO_OUT)

test: install-test
	$(PY) -m pytest -q

bench: install-test
	$(PY) benchmarks/frontend.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
