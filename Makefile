# Every target sets up what it needs: a fresh clone runs `make demo` or `make test` with nothing installed by hand.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

# The first Python 3.11-3.13 on PATH that actually runs (a pyenv shim exists even for a version that is not
# selected, and then fails, so each candidate is asked for its version). Override with PYTHON=...
ifndef PYTHON
PYTHON := $(shell for p in python3.11 python3.12 python3.13 python3; do \
  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' \
  2>/dev/null && { echo $$p; break; }; done)
endif
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
ENV ?= dev
# sam build needs the Lambda runtime's interpreter (python3.13) on PATH. pyenv keeps one beside 3.11; its shim is
# skipped because a shim exists even when that version is not selected, and then fails.
PY313_DIR := $(shell for p in $$HOME/.pyenv/versions/3.13*/bin/python3.13 $$(command -v -a python3.13 2>/dev/null); do \
  [ -x "$$p" ] && "$$p" -c "" 2>/dev/null && { dirname "$$p"; break; }; done)
MYPY_TARGETS := layers/callcore/callcore stream_server local aiphone $(wildcard functions/*/*.py)

.PHONY: setup system-deps test lint typecheck pytest sam-validate sam-build demo dev bench bench-quick deploy seed clean

$(VENV)/.stamp: requirements-dev.txt layers/callcore/requirements.txt stream_server/requirements.txt pyproject.toml
	@if ! test -x $(PY); then
	  test -n "$(PYTHON)" || { echo "setup: needs Python 3.11, 3.12 or 3.13 on PATH (or PYTHON=/path/to/python3.x)" >&2; exit 1; }
	  echo "setup: creating $(VENV) with $$($(PYTHON) -c 'import sys; print(sys.executable, sys.version.split()[0])')"
	  $(PYTHON) -m venv $(VENV)
	fi
	echo "setup: upgrading pip in $(VENV)"
	$(PY) -m pip install -q --upgrade pip
	echo "setup: installing requirements-dev.txt into $(VENV) (about a minute the first time)"
	$(PY) -m pip install -q -r requirements-dev.txt
	echo "setup: installing this project (the aiphone CLI) in editable mode"
	$(PY) -m pip install -q --no-deps --no-build-isolation -e . >$(VENV)/aiphone-install.log 2>&1 || { cat $(VENV)/aiphone-install.log >&2; exit 1; }
	# The repo's own packages are plain directories: a .pth file puts them on the path for every tool.
	echo "setup: putting layers/callcore, functions/* and the repository root on the path"
	site=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
	{ echo "$(CURDIR)/layers/callcore"; echo "$(CURDIR)"; for d in $(CURDIR)/functions/*/; do echo "$${d%/}"; done; } > "$$site/ai_phone_calls.pth"
	touch $@
	echo "setup: $(VENV) ready"

$(SAM_VENV)/.stamp: requirements-sam.txt
	@test -n "$(PYTHON)" || { echo "setup: needs Python 3.11, 3.12 or 3.13 on PATH" >&2; exit 1; }
	echo "setup: creating $(SAM_VENV) (SAM CLI) with $(PYTHON)"
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --upgrade pip
	echo "setup: installing requirements-sam.txt into $(SAM_VENV)"
	$(SAM_VENV)/bin/pip install -q -r requirements-sam.txt
	touch $@

setup: $(VENV)/.stamp system-deps

# eSpeak NG is the offline text-to-speech engine (Debian package; nothing is downloaded at run time).
system-deps:
	@if ! command -v espeak-ng >/dev/null; then
	  echo "setup: installing espeak-ng (offline text-to-speech) with apt-get"
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null;
	  else echo "espeak-ng is missing: sudo apt-get install espeak-ng" >&2; exit 1; fi
	fi

lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTHONPATH=layers/callcore:. $(VENV)/bin/lint-imports --no-cache

typecheck: $(VENV)/.stamp
	$(VENV)/bin/mypy $(MYPY_TARGETS)

pytest: setup
	$(VENV)/bin/pytest

sam-validate: $(SAM_VENV)/.stamp
	$(SAM) validate --lint

sam-build: $(SAM_VENV)/.stamp
	test -n "$(PY313_DIR)" || { echo "python3.13 not found (needed by sam build for the python3.13 runtime)" >&2; exit 1; }
	PATH="$(PY313_DIR):$$PATH" $(SAM) build --parallel
	# /opt and /var/task are read-only in Lambda, so Python cannot cache bytecode there: ship it. Unchecked
	# hashes, because zip packaging rounds the source mtimes that default .pyc files are validated against.
	$(PY313_DIR)/python3.13 -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build >/dev/null

test: lint typecheck pytest sam-validate sam-build

demo: setup
	$(PY) -m local demo

dev: setup
	$(PY) -m local dev

seed: setup
	$(PY) -m local seed

# Pipecat lives in its own virtualenv (.venv-bench) so its pins never touch the product's.
bench: setup
	bash bench/setup_bench_env.sh
	$(PY) -m bench

bench-quick: setup
	bash bench/setup_bench_env.sh
	$(PY) -m bench --quick

deploy: $(SAM_VENV)/.stamp
	ENV=$(ENV) DRY_RUN=$${DRY_RUN:-} SAM=$(SAM) PY313_DIR="$(PY313_DIR)" bash scripts/deploy.sh

clean:
	rm -rf $(VENV) $(SAM_VENV) .venv-bench .aws-sam .mypy_cache .ruff_cache .pytest_cache
