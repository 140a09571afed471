# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
DEMO_OUT ?= demo-output

.PHONY: demo test install install-test system-deps bench clean

# Debian packages some tests use (they skip, saying why, where a package is missing):
# espeak-ng speaks the synthetic digit voices (polysense.data.espeak).
DEB_PACKAGES := espeak-ng

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

# Installs the missing DEB_PACKAGES when run as root on a Debian-like system; otherwise says so.
system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && apt-get install -y -qq $$missing) || echo "could not install$$missing: tests needing it skip"; \
	  else echo "not root or no apt-get: install$$missing yourself, or the tests needing it skip"; fi; \
	fi

test: install-test system-deps
	$(PY) -m pytest -q

bench: install-test
	$(PY) benchmarks/frontend.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
