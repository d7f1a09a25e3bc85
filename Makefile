# Build and test entry points for the asyncjobs.named collection.
#
# Every test runs against the collection *as built and installed* from its tarball
# (.build/collections), never against the source tree, so that a packaging mistake
# (missing file, wrong build_ignore) fails the tests.
#
#   make test              everything CI runs, in this order, going on after a failure and
#                          failing at the end: units, integration, matrix, compat-check,
#                          sanity, lint, docs, changelog, tarball-check, runner; then a summary
#   make units             pytest tests/unit (PYTHONPATH=.build/collections)
#   make integration       pytest tests/integration, full suite (but the `mitogen` tests), on
#                          ansible-core 2.19, TARGET_PYTHON targets
#   make matrix            the matrix subset (pytest -m matrix) on the other ansible-core versions,
#                          one run per MATRIX row (core:target Python); writes .build/reports/matrix.json
#   make compat-check      README's compatibility table and meta/runtime.yml match what ran
#   make compat-update     rewrite README's table from the runs (after a full `make test`)
#   make integration-mitogen  under Mitogen for Ansible (mitogen_linear): the matrix subset and
#                          the Mitogen tests (MITOGEN_SELECT= for the whole suite)
#   make integration-py36  the full suite on ansible-core 2.16 with a Python 3.6 target (not in `make test`)
#   make sanity            ansible-test sanity from each of SANITY_RUNS (2.16, 2.19, 2.21), no Docker
#   make lint              ansible-lint --profile production on examples/ (.ansible-lint) and doc snippets
#   make docs              antsibull-docs lint, and an offline docsite build checked (.ci/docs_check.py)
#   make changelog         antsibull-changelog lint, fragment rules, release in a temp copy
#   make tarball-check     the built tarball holds what it should, nothing else (tests/release)
#   make runner            examples/demo.yml through ansible-runner, job events checked (.ci/runner_check.py)
#   make demo              run examples/demo.yml against localhost
#   make debug-module ALIAS=name [ASYNC_DIR=dir]   (or JID=...) run async_status_id alone
#   make bench             benchmarks beside native Ansible (bench/README.md); BENCHES=poll_cost
#   make chaos             random trials of exactly once: controllers killed at random moments
#                          of starts and waits, local and over SSH (tests/chaos/chaos.py);
#                          TRIALS=200, CHAOS_SEED=n; `make test` runs CHAOS_CI_TRIALS of them
#   make lock              compile requirements/*.in into the locks requirements/*.txt (every
#                          package pinned, with hashes); UPGRADE=1 moves all to the newest
#                          allowed versions, UPGRADE_PACKAGES='a b' only those
#   make clean
#
# Variables (override on the command line or in the environment):
#   PYTHON             base interpreter for .venv and the tool venvs (default python3)
#   TARGET_PYTHON      interpreter of the test targets in `make integration`
#                      (default /usr/bin/python3 when present, else .venv's python)
#   CORES              controller Python of each ansible-core minor (core:X.Y); its venv is
#                      .venv-<core without dot> from the lock requirements/test-<core without dot>.txt,
#                      except 2.19: .venv from requirements/test.txt
#   MATRIX             rows of `make matrix`, core:target-Python, e.g. MATRIX='2.16:3.6'
#   SANITY_RUNS        rows of `make sanity`, core:extra compile+import Pythons (comma-separated)
#   PYTEST_ARGS        extra pytest arguments, e.g. PYTEST_ARGS='-k smoke -x'
#                      (with -k or -m the runs are recorded as "partial", and compat-check fails)
#   PYTEST_XDIST       how `make integration` spreads tests over the 2 cores
#                      (default -n 2 --dist loadscope: a module's tests stay on one worker, so
#                      its module-scoped fixture runs once); PYTEST_XDIST= runs them serially
#   MATRIX_XDIST       the same for each row of `make matrix` (default -n 3 --dist loadscope)
#   Interpreters come from .ci/find-python.sh (pyenv, then /usr/bin); PYTHON36=/path and the
#   like override one version.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BUILD := .build
COLLECTIONS := $(CURDIR)/$(BUILD)/collections
REPORTS := $(BUILD)/reports
PYTEST_ARGS ?=
PYTEST_XDIST ?= -n 2 --dist loadscope
# The matrix rows with three workers on two cores: their tests wait on jobs as much as they
# compute (a row of 2.16/3.6 took 85 s instead of 105 s); the start's units with two.
MATRIX_XDIST ?= -n 3 --dist loadscope
TARGET_PYTHON ?= $(shell if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else echo $(CURDIR)/$(VENV)/bin/python; fi)
ASYNC_DIR ?= $(HOME)/.ansible_async
UPGRADE ?=
UPGRADE_PACKAGES ?=
ALIAS ?=
JID ?=

# The versions (README.md, "Compatibility"; CONTRIBUTING.md, "Dependencies"), from each
# ansible-core's own support table: 2.15-2.19 run on 3.11; 2.20+ need 3.12+. Targets 3.6
# only up to 2.16, 3.7 up to 2.17. Python 3.14 is not listed: no 3.14 interpreter can be had here (pyenv
# has none, and no package registry that CI reaches ships one).
CORES ?= 2.15:3.11 2.16:3.11 2.17:3.11 2.18:3.11 2.19:3.11 2.20:3.12 2.21:3.13 2.22:3.13
MATRIX ?= 2.15:3.9 2.16:3.6 2.17:3.7 2.18:3.8 2.20:3.10 2.21:3.13 2.22:3.12
SANITY_RUNS ?= 2.16:3.6,3.7 2.19:3.8,3.9,3.10,3.12,3.13 2.21:3.12

# "full" unless PYTEST_ARGS selects tests: then the run proves less than the table says.
SUITE_FULL := $(if $(filter -k -m,$(PYTEST_ARGS)),partial,full)
SUITE_MATRIX := $(if $(filter -k -m,$(PYTEST_ARGS)),partial,matrix)

# Environment shared by every test run: only the built artifact is visible to Ansible.
TEST_ENV := ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=False \
	ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1
STEP := $(PYTHON) .ci/step.py

.PHONY: help venv venv-core venv-lint venv-docs venv-runner build units integration \
	integration-py36 integration-mitogen matrix compat-table compat-check compat-update ssh-setup ssh-stop sanity \
	lint docs changelog tarball-check runner test demo debug-module clean lock

help:
	@sed -n '2,/^$$/{s/^# \{0,1\}//;p}' $(firstword $(MAKEFILE_LIST))

# --- virtualenvs, each synced to its lock (requirements/*.txt) when the lock changes ------

venv:
	@PYTHON=$(PYTHON) .ci/mkvenv.sh $(VENV) requirements/test.txt

# make venv-core CORE=2.21: the venv of one ansible-core minor (see CORES); prints nothing.
venv-core:
	@core=$(CORE); v=$${core/./}; ctrl=; \
	for c in $(CORES); do [ "$${c%%:*}" != "$$core" ] || ctrl=$${c#*:}; done; \
	[ -n "$$ctrl" ] || { echo "venv-core: ansible-core $$core is not in CORES" >&2; exit 1; }; \
	if [ "$$core" = 2.19 ]; then $(MAKE) --no-print-directory venv; \
	else PYTHON=$$(.ci/find-python.sh $$ctrl) .ci/mkvenv.sh .venv-$$v requirements/test-$$v.txt; fi

venv-lint:
	@PYTHON=$(PYTHON) .ci/mkvenv.sh .venv-lint requirements/lint.txt
venv-docs:
	@PYTHON=$(PYTHON) .ci/mkvenv.sh .venv-docs requirements/docs.txt
venv-runner:
	@PYTHON=$(PYTHON) .ci/mkvenv.sh .venv-runner requirements/runner.txt

# The locks: requirements/NAME.in (hand-written: what we want) -> requirements/NAME.txt
# (every package, pinned, hashed), by .ci/lock.sh with uv, each for the Python its venv
# runs on: test (2.19) and test-2XX from CORES, the tools on $(PYTHON). An unchanged tree
# gives no diff; UPGRADE=1 or UPGRADE_PACKAGES='a b' move versions (CONTRIBUTING.md).
LOCK_TOOLS := uv lint docs runner
lock:
	@PYTHON=$(PYTHON) .ci/mkvenv.sh --uv; \
	for c in $(CORES); do core=$${c%%:*}; name=test-$${core/./}; [ "$$core" != 2.19 ] || name=test; \
		UPGRADE=$(UPGRADE) UPGRADE_PACKAGES='$(UPGRADE_PACKAGES)' .ci/lock.sh $$name $${c#*:}; done; \
	pyv=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	for t in $(LOCK_TOOLS); do UPGRADE=$(UPGRADE) UPGRADE_PACKAGES='$(UPGRADE_PACKAGES)' .ci/lock.sh $$t $$pyv; done

# --- build the collection artifact and install it where the tests look -------------------

# `make test` builds once and sets BUILD_DONE=1 for its steps, which would rebuild otherwise.
build: venv
	@if [ "$${BUILD_DONE:-}" = 1 ] && [ -f $(BUILD)/collections/ansible_collections/asyncjobs/named/MANIFEST.json ]; then \
		exit 0; fi; set -x; \
	rm -rf $(BUILD)/collections/ansible_collections/asyncjobs $(BUILD)/asyncjobs-named-*.tar.gz
	$(VENV)/bin/ansible-galaxy collection build --force --output-path $(BUILD) .; \
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

# The full suite on ansible-core 2.19; the run is recorded for the compatibility table.
# The tests marked `mitogen` (which pick Mitogen's strategy themselves) run in
# integration-mitogen, not twice.
integration: build
	@$(MAKE) --no-print-directory ssh-setup TARGET_PYTHON=$(TARGET_PYTHON)
	@mkdir -p $(REPORTS)
	@rc=0; $(TEST_ENV) TARGET_PYTHON=$(TARGET_PYTHON) $(VENV)/bin/python -m pytest tests/integration \
		-m "not mitogen" --junitxml=$(REPORTS)/integration.xml $(PYTEST_XDIST) $(PYTEST_ARGS) || rc=$$?; \
	[ ! -f $(REPORTS)/integration.xml ] || $(PYTHON) .ci/compat.py record integration \
		$(REPORTS)/integration.xml $(VENV)/bin/python $(TARGET_PYTHON) $(SUITE_FULL); \
	exit $$rc

# The matrix: for each MATRIX row (ansible-core minor:target Python), the tests marked
# `matrix` (registered in tests/integration/conftest.py: every module and every guarantee,
# locally and over SSH with become; CONTRIBUTING.md's "Tests" section lists them) run with
# that core's venv (pytest runs inside it, so run_playbook picks its ansible-playbook)
# against that target Python, locally and over SSH with become. Goes on after a failed
# row, fails at the end; then writes the table (.build/reports/matrix.json). Then, once per
# ansible-core, MATRIX_UNITS: the unit tests of the start's controller hooks and of its host
# side, on that core (its ActionBase, its real async_wrapper).
MATRIX_UNITS ?= tests/unit/plugins/plugin_utils/test__start.py \
	tests/unit/plugins/module_utils/_host/test_start.py tests/unit/plugins/module_utils/_host/test_claims.py
matrix: build
	@mkdir -p $(REPORTS)
	@rows="$(MATRIX)"; cores=$$(for r in $$rows; do echo "$${r%%:*}"; done | sort -uV); \
	for core in $$cores; do $(MAKE) --no-print-directory venv-core CORE=$$core; done; \
	targets=$$(for r in $$rows; do .ci/find-python.sh "$${r#*:}" || true; done); \
	bash tests/integration/setup_ssh.sh $$targets; \
	failed=(); \
	for row in $$rows; do \
		core=$${row%%:*}; py=$${row#*:}; venv=.venv-$${core/./}; [ "$$core" != 2.19 ] || venv=$(VENV); \
		target=$$(.ci/find-python.sh $$py) || { failed+=("$$core:$$py"); continue; }; \
		name=matrix-$$core-py$$py; start=$$SECONDS; \
		echo "== matrix $$core, target Python $$py ($$target), controller $$($$venv/bin/python -V 2>&1)"; \
		rc=0; $(TEST_ENV) TARGET_PYTHON=$$target $$venv/bin/python -m pytest tests/integration -m matrix \
			-p no:cacheprovider --junitxml=$(REPORTS)/$$name.xml $(MATRIX_XDIST) $(PYTEST_ARGS) || rc=$$?; \
		[ ! -f $(REPORTS)/$$name.xml ] || $(PYTHON) .ci/compat.py record $$name \
			$(REPORTS)/$$name.xml $$venv/bin/python $$target $(SUITE_MATRIX); \
		echo "== matrix $$core, target Python $$py: exit $$rc in $$((SECONDS - start)) s"; \
		[ $$rc = 0 ] || failed+=("$$core:$$py"); \
	done; \
	for core in $$cores; do \
		venv=.venv-$${core/./}; [ "$$core" != 2.19 ] || venv=$(VENV); \
		echo "== matrix $$core: the unit tests of the start (with its own async_wrapper)"; \
		PYTHONPATH=$(COLLECTIONS) $(TEST_ENV) $$venv/bin/python -m pytest $(MATRIX_UNITS) \
			-n 2 -p no:cacheprovider -q --junitxml=$(REPORTS)/matrix-units-$$core.xml || failed+=("$$core:units"); \
	done; \
	$(PYTHON) .ci/compat.py table; \
	[ $${#failed[@]} = 0 ] || { echo "matrix: FAILED rows: $${failed[*]}" >&2; exit 1; }

compat-table:
	@$(PYTHON) .ci/compat.py table

compat-check:
	@$(STEP) compat $(REPORTS) -- $(PYTHON) .ci/compat.py check

compat-update:
	$(PYTHON) .ci/compat.py update

# The suite under Mitogen for Ansible (mitogen==0.3.54 in .venv, strategy mitogen_linear;
# MITOGEN_STRATEGY=mitogen_free for the other), on ansible-core 2.19. `make test` runs the
# matrix subset (every module and every guarantee) and the Mitogen tests (marker
# `mitogen`: test_mitogen.py, which also covers mitogen_free); MITOGEN_SELECT= runs the
# whole suite. Tests of what only the async_wrapper path has, and SSH tests, are skipped
# with their reason (-rs lists them).
MITOGEN_STRATEGY ?= mitogen_linear
MITOGEN_SELECT ?= -m "matrix or mitogen"
integration-mitogen: build
	@mkdir -p $(REPORTS)
	$(TEST_ENV) AJ_STRATEGY=$(MITOGEN_STRATEGY) TARGET_PYTHON=$(TARGET_PYTHON) \
		$(VENV)/bin/python -m pytest tests/integration -rs $(MITOGEN_SELECT) \
		--junitxml=$(REPORTS)/integration-mitogen.xml $(PYTEST_XDIST) $(PYTEST_ARGS)

# pytest runs inside .venv-216, so run_playbook picks .venv-216's ansible-playbook (2.16).
integration-py36: build
	@$(MAKE) --no-print-directory venv-core CORE=2.16
	@py36=$$(.ci/find-python.sh 3.6); \
	$(MAKE) --no-print-directory ssh-setup TARGET_PYTHON=$$py36; \
	mkdir -p $(REPORTS); \
	echo "integration-py36: ansible-core 2.16 controller (.venv-216), TARGET_PYTHON=$$py36"; \
	$(TEST_ENV) TARGET_PYTHON=$$py36 .venv-216/bin/python -m pytest tests/integration \
		--junitxml=$(REPORTS)/integration-py36.xml $(PYTEST_ARGS)

# ansible-test sanity, without Docker, on the built collection plus tests/ from the source
# tree (the tarball leaves tests/ out), once per SANITY_RUNS row (tests/sanity/run-sanity.sh):
# the row's ansible-test runs every default sanity test (validate-modules, compile, import,
# pep8, pylint, yamllint, ansible-doc, shebang, shellcheck, ...) on its controller Python
# (CORES), then compile + import on each extra Python of the row. Each ansible-test reads
# its own tests/sanity/ignore-<core>.txt. 2.16 is the last to know Python 3.6 and 3.7.
# Each row stages its own copy ($(BUILD)/sanity-<core>, with its own empty git repo:
# ansible-test takes its file list from the nearest .git) and writes
# $(REPORTS)/sanity-<core>.xml. Without Docker ansible-test runs each test in its own
# virtualenv, cached under ~/.ansible/test/venv; tests/sanity/seed_get_pip.py gives it the
# get-pip.py it would download from a host we cannot reach. shellcheck is installed with
# apt-get when missing (as root), so that its test does not skip.
# Knobs: SANITY_ARGS='--test pep8', SANITY_RUNS='2.19:' (one version, no extra Pythons).
sanity: build
	@mkdir -p $(REPORTS); failed=(); \
	for row in $(SANITY_RUNS); do \
		core=$${row%%:*}; pys=$${row#*:}; \
		$(MAKE) --no-print-directory venv-core CORE=$$core; \
		venv=.venv-$${core/./}; [ "$$core" != 2.19 ] || venv=$(VENV); \
		ctrl=$$($$venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
		echo "== sanity from ansible-core $$core on Python $$ctrl, compile+import also on: $${pys//,/ }"; \
		TARGET_PYTHON_PY36=$$(.ci/find-python.sh 3.6 2>/dev/null || true) \
		ANSIBLE_TEST=$(CURDIR)/$$venv/bin/ansible-test SANITY_PYTHON=$$ctrl \
		SANITY_TARGET_PYTHONS="$${pys//,/ }" SANITY_BUILD=$(CURDIR)/$(BUILD)/sanity-$$core \
		SANITY_JUNIT=$(CURDIR)/$(REPORTS)/sanity-$$core.xml SANITY_TESTS_FROM=$(CURDIR) \
			tests/sanity/run-sanity.sh $(COLLECTIONS)/ansible_collections/asyncjobs/named \
			|| failed+=("$$core"); \
	done; \
	[ $${#failed[@]} = 0 ] || { echo "sanity: FAILED from ansible-core $${failed[*]}" >&2; exit 1; }

# ansible-lint on examples/ (the design's three examples are excluded in .ansible-lint, with
# the reason), against the built collection; ANSIBLE_HOME keeps its files out of ~/.ansible.
# Then on the YAML snippets of LINT_DOCS (.ci/lint_snippets.py; a snippet kept in the
# design's form on purpose is marked `<!-- lint: skip, REASON -->` / `.. lint: skip, REASON`).
LINT_DOCS ?= README.md $(wildcard docs/docsite/rst/*.rst)
LINT_ENV := $(TEST_ENV) ANSIBLE_HOME=$(CURDIR)/$(BUILD)/lint-home PATH=$(CURDIR)/.venv-lint/bin:$$PATH
lint: build venv-lint
	@$(STEP) ansible-lint $(REPORTS) -- env $(LINT_ENV) .venv-lint/bin/ansible-lint --nocolor examples/
	@$(STEP) ansible-lint-snippets $(REPORTS) -- env $(LINT_ENV) .venv-lint/bin/python \
		.ci/lint_snippets.py .venv-lint/bin/ansible-lint $(LINT_DOCS)

docs: build venv-docs
	@$(STEP) docs $(REPORTS) -- env $(TEST_ENV) .venv-docs/bin/python .ci/docs_check.py

changelog: venv-docs
	@$(STEP) changelog $(REPORTS) -- .venv-docs/bin/python .ci/changelog_check.py

tarball-check: build
	@mkdir -p $(REPORTS)
	$(VENV)/bin/python -m pytest tests/release -p no:cacheprovider --junitxml=$(REPORTS)/tarball.xml

runner: build venv-runner
	@$(STEP) ansible-runner $(REPORTS) -- env $(TEST_ENV) .venv-runner/bin/python .ci/runner_check.py

# Every step runs, also after a failed one; the summary lists each, and the exit code is
# non-zero if any failed. The order puts the longest runs first so a failure shows early.
TEST_STEPS := units integration integration-mitogen matrix compat-check chaos-ci sanity lint docs changelog tarball-check runner

test:
	@rm -rf $(REPORTS); failed=(); \
	$(MAKE) --no-print-directory build; export BUILD_DONE=1; \
	for step in $(TEST_STEPS); do \
		start=$$SECONDS; echo "======== make $$step"; \
		$(MAKE) --no-print-directory $$step || failed+=("$$step"); \
		echo "======== make $$step: $$((SECONDS - start)) s"; \
	done; \
	rc=0; $(VENV)/bin/python .ci/summary.py $(REPORTS) || rc=$$?; \
	[ $${#failed[@]} = 0 ] || { echo "make test: FAILED: $${failed[*]}" >&2; rc=1; }; \
	exit $$rc

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
	rm -rf $(BUILD) $(VENV) .venv-* .pytest_cache tests/.pytest_cache
	find tests examples bench -name __pycache__ -prune -exec rm -rf {} +

# --- chaos: random crash trials (tests/chaos/chaos.py) --------------------------------------

TRIALS ?= 200
CHAOS_SEED ?=
CHAOS_CI_TRIALS ?= 4
.PHONY: chaos chaos-ci
chaos: build
	@$(MAKE) --no-print-directory ssh-setup TARGET_PYTHON=$(TARGET_PYTHON)
	$(TEST_ENV) TARGET_PYTHON=$(TARGET_PYTHON) $(VENV)/bin/python tests/chaos/chaos.py \
		--trials $(TRIALS) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED))

# The short version in `make test`, recorded as a report of its own.
chaos-ci: build
	@$(MAKE) --no-print-directory ssh-setup TARGET_PYTHON=$(TARGET_PYTHON)
	@$(STEP) chaos $(REPORTS) -- env $(TEST_ENV) TARGET_PYTHON=$(TARGET_PYTHON) \
		$(VENV)/bin/python tests/chaos/chaos.py --trials $(CHAOS_CI_TRIALS)

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
