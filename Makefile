# Build and test entry points for the asyncjobs.named collection.
#
# Every test runs against the collection *as built and installed* from its tarball
# (.build/collections), never against the source tree, so that a packaging mistake
# (missing file, wrong build_ignore) fails the tests.
#
#   make test              units, integration, integration-py36, sanity (stops at first failure)
#   make units             pytest tests/unit (PYTHONPATH=.build/collections)
#   make integration       pytest tests/integration on ansible-core 2.19, TARGET_PYTHON targets
#   make integration-py36  the same suite on ansible-core 2.16 with a Python 3.6 target
#   make integration-mitogen  the same suite under Mitogen for Ansible (mitogen_linear)
#   make sanity            ansible-test sanity (2.19 on 3.11, compile+import on 3.6-3.13), no Docker
#   make demo              run examples/demo.yml against localhost
#   make debug-module ALIAS=name [ASYNC_DIR=dir]   (or JID=...) run async_status_id alone
#   make bench             benchmarks beside native Ansible (bench/README.md); BENCHES=poll_cost
#   make clean
#
# Variables (override on the command line or in the environment):
#   PYTHON             base interpreter for the venvs (default python3)
#   TARGET_PYTHON      interpreter of the test targets in `make integration`
#                      (default /usr/bin/python3 when present, else .venv's python)
#   TARGET_PYTHON_PY36 interpreter for `make integration-py36` (default: pyenv 3.6.15)
#   PYTEST_ARGS        extra pytest arguments, e.g. PYTEST_ARGS='-k smoke -x' or '-n 2'

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VENV216 := .venv-216
BUILD := .build
COLLECTIONS := $(CURDIR)/$(BUILD)/collections
REPORTS := $(BUILD)/reports
PYTEST_ARGS ?=
PY36_VERSION ?= 3.6.15
TARGET_PYTHON ?= $(shell if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else echo $(CURDIR)/$(VENV)/bin/python; fi)
ASYNC_DIR ?= $(HOME)/.ansible_async
ALIAS ?=
JID ?=

# Environment shared by every test run: only the built artifact is visible to Ansible.
TEST_ENV := ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=False \
	ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 PY36_VERSION=$(PY36_VERSION)

.PHONY: help venv venv216 build units integration integration-py36 integration-mitogen ssh-setup ssh-stop \
	sanity test demo debug-module clean

help:
	@sed -n '2,/^$$/{s/^# \{0,1\}//;p}' $(firstword $(MAKEFILE_LIST))

# --- virtualenvs (reinstalled only when the requirements file changes) -------------------

venv:
	@PYTHON=$(PYTHON) .ci/mkvenv.sh $(VENV) requirements-test.txt

venv216:
	@PYTHON=$(PYTHON) .ci/mkvenv.sh $(VENV216) requirements-test-216.txt

# --- build the collection artifact and install it where the tests look -------------------

build: venv
	rm -rf $(BUILD)/collections/ansible_collections/asyncjobs $(BUILD)/asyncjobs-named-*.tar.gz
	$(VENV)/bin/ansible-galaxy collection build --force --output-path $(BUILD) .
	$(VENV)/bin/ansible-galaxy collection install --force -p $(BUILD)/collections \
		$(BUILD)/asyncjobs-named-*.tar.gz 2>&1 | grep -v 'is not part of the configured Ansible collections path' >&2 || true
	@test -f $(BUILD)/collections/ansible_collections/asyncjobs/named/MANIFEST.json \
		|| { echo "build: collection was not installed into $(BUILD)/collections" >&2; exit 1; }

# --- tests -------------------------------------------------------------------------------

units: build
	@mkdir -p $(REPORTS)
	@if ! find tests/unit \( -name 'test_*.py' -o -name '*_test.py' \) 2>/dev/null | grep -q .; then \
		echo "units: no unit tests under tests/unit yet, nothing to run"; exit 0; fi; \
	echo "units: PYTHONPATH=$(COLLECTIONS)"; PYTHONPATH=$(COLLECTIONS) $(TEST_ENV) $(VENV)/bin/python -m pytest tests/unit \
		--junitxml=$(REPORTS)/units.xml $(PYTEST_ARGS)

ssh-setup:
	bash tests/integration/setup_ssh.sh $(TARGET_PYTHON)

ssh-stop:
	bash tests/integration/setup_ssh.sh --stop

integration: build
	@$(MAKE) --no-print-directory ssh-setup TARGET_PYTHON=$(TARGET_PYTHON)
	@mkdir -p $(REPORTS)
	$(TEST_ENV) TARGET_PYTHON=$(TARGET_PYTHON) $(VENV)/bin/python -m pytest tests/integration \
		--junitxml=$(REPORTS)/integration.xml $(PYTEST_ARGS)

# The suite again under Mitogen for Ansible (mitogen==0.3.54 in .venv, strategy
# mitogen_linear; MITOGEN_STRATEGY=mitogen_free for the other). Tests of what only the
# async_wrapper path has, and SSH tests, are skipped with their reason (-rs lists them).
MITOGEN_STRATEGY ?= mitogen_linear
integration-mitogen: build
	@mkdir -p $(REPORTS)
	$(TEST_ENV) AJ_STRATEGY=$(MITOGEN_STRATEGY) TARGET_PYTHON=$(TARGET_PYTHON) \
		$(VENV)/bin/python -m pytest tests/integration -rs \
		--junitxml=$(REPORTS)/integration-mitogen.xml $(PYTEST_ARGS)

# pytest runs inside .venv-216, so run_playbook picks .venv-216's ansible-playbook (2.16).
integration-py36: build venv216
	@py36=$$(PY36_VERSION=$(PY36_VERSION) .ci/find-py36.sh); \
	$(MAKE) --no-print-directory ssh-setup TARGET_PYTHON=$$py36; \
	mkdir -p $(REPORTS); \
	echo "integration-py36: ansible-core 2.16 controller (.venv-216), TARGET_PYTHON=$$py36"; \
	$(TEST_ENV) TARGET_PYTHON=$$py36 $(VENV216)/bin/python -m pytest tests/integration \
		--junitxml=$(REPORTS)/integration-py36.xml $(PYTEST_ARGS)

# ansible-test sanity, without Docker, on the built collection (tests/sanity/run-sanity.sh).
# The script copies the installed artifact to $(BUILD)/sanity/ansible_collections/asyncjobs/named/
# and gives the copy its own empty git repo: ansible-test takes its file list from the nearest
# .git, which would otherwise be this repo, where $(BUILD) is git-ignored: zero files, "passed".
# It then runs, and fails if any fails:
#   - every default sanity test (validate-modules, compile, import, pep8, pylint, yamllint,
#     ansible-doc, shebang, shellcheck, ...) with .venv's ansible-test (2.19) on Python 3.11;
#   - compile + import on the other module target Pythons 3.8-3.13 that are installed;
#   - compile + import on Python 3.6 with .venv-216's ansible-test (2.16, last to know 3.6).
# Without Docker ansible-test runs each test in its own virtualenv, cached under
# ~/.ansible/test/venv and reused while the test's requirements are unchanged.  It creates
# them without pip and bootstraps pip with a get-pip.py downloaded from a host that we cannot
# reach (only PyPI is reachable), unless ~/.ansible/test/cache/get_pip_<version>.py exists,
# which is where its own error message says to put the script.  tests/sanity/seed_get_pip.py
# writes an equivalent script there, built from the pinned pip wheel taken from PyPI, and makes
# it carry our PIP_* / certificate settings into each new virtualenv (ansible-test scrubs the
# environment of its pip runs).  ansible-test itself is not patched.  shellcheck is installed
# with apt-get when missing (as root), so that its test does not skip.
# Knobs: SANITY_ARGS='--test pep8', SANITY_TARGET_PYTHONS='' (only 3.11 and 3.6), SANITY_PY36=0.
# Results: $(REPORTS)/sanity.xml (merged JUnit) and $(BUILD)/sanity/.../tests/output.
sanity: build venv216
	@mkdir -p $(REPORTS)
	@py36=$$(PY36_VERSION=$(PY36_VERSION) .ci/find-py36.sh); \
	set -x; TARGET_PYTHON_PY36=$$py36 ANSIBLE_TEST=$(CURDIR)/$(VENV)/bin/ansible-test \
		ANSIBLE_TEST_PY36=$(CURDIR)/$(VENV216)/bin/ansible-test SANITY_BUILD=$(CURDIR)/$(BUILD)/sanity \
		SANITY_JUNIT=$(CURDIR)/$(REPORTS)/sanity.xml \
		tests/sanity/run-sanity.sh $(COLLECTIONS)/ansible_collections/asyncjobs/named

test:
	@rm -rf $(REPORTS)
	$(MAKE) --no-print-directory units
	$(MAKE) --no-print-directory integration
	$(MAKE) --no-print-directory integration-py36
	$(MAKE) --no-print-directory sanity
	@$(VENV)/bin/python .ci/summary.py $(REPORTS)

# --- manual use ------------------------------------------------------------------------------

demo: build
	$(TEST_ENV) $(VENV)/bin/ansible-playbook -i examples/inventory.yml examples/demo.yml

# Runs the module alone, outside Ansible, on this machine (no action plugin involved).
# Builds only when nothing is installed yet: a rebuild would pull the collection from under
# a playbook that is running (the usual moment to look at a job by hand).
debug-module:
	@test -f $(COLLECTIONS)/ansible_collections/asyncjobs/named/MANIFEST.json || $(MAKE) --no-print-directory build
	@if [ -n "$(JID)" ]; then key=jid; val='$(JID)'; \
	elif [ -n "$(ALIAS)" ]; then key=alias; val='$(ALIAS)'; \
	else echo "usage: make debug-module ALIAS=name|JID=jid [ASYNC_DIR=dir]" >&2; exit 2; fi; \
	args="{\"ANSIBLE_MODULE_ARGS\": {\"$$key\": \"$$val\", \"_async_dir\": \"$(ASYNC_DIR)\"}}"; \
	echo "$$args" >&2; \
	echo "$$args" | PYTHONPATH=$(COLLECTIONS) $(VENV)/bin/python -m \
		ansible_collections.asyncjobs.named.plugins.modules.async_status_id

clean:
	-@[ ! -f tests/integration/setup_ssh.sh ] || bash tests/integration/setup_ssh.sh --stop
	rm -rf $(BUILD) $(VENV) $(VENV216) .pytest_cache tests/.pytest_cache
	find tests examples bench -name __pycache__ -prune -exec rm -rf {} +

# --- benchmarks: figures side by side with native Ansible, not tests (bench/README.md) ------

# Scripts of bench/ to run, in order (make bench BENCHES='poll_cost alias_lookup').
BENCHES ?= poll_cost alias_lookup wait_latency

.PHONY: bench
bench: build
	@for b in $(BENCHES); do \
		echo "== bench/$$b.py"; \
		$(TEST_ENV) ANSIBLE_BIN_DIR=$(CURDIR)/$(VENV)/bin TARGET_PYTHON=$(TARGET_PYTHON) \
			$(VENV)/bin/python bench/$$b.py || exit 1; \
		echo; \
	done
