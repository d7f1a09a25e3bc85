#!/usr/bin/env bash
# Run `ansible-test sanity` on a staged copy of the collection, without Docker.
#
# usage: tests/sanity/run-sanity.sh [COLLECTION_DIR]
#
# COLLECTION_DIR is a built/installed collection (has MANIFEST.json; what `make sanity`
# passes) or a source tree (has galaxy.yml; default: this repository, copied minus
# galaxy.yml's build_ignore).  It is copied to
# $SANITY_BUILD/ansible_collections/NAMESPACE/NAME/, the layout ansible-test requires,
# and the runs below happen there; the copy gets its own (empty) git repository because
# ansible-test takes the list of files to test from the nearest .git above the collection,
# which would otherwise be this repository, where .build/ is git-ignored: no files at all.
# The built tarball does not ship tests/ (galaxy.yml's build_ignore), so the copy gets
# tests/ from the source tree $SANITY_TESTS_FROM: sanity covers plugins/ as shipped and
# tests/ as in the repository, and ansible-test reads tests/sanity/ignore-X.Y.txt there.
#
# One call runs one ansible-test (one ansible-core version; `make sanity` calls it once
# per version, each with its own $SANITY_BUILD), continuing after a failure and failing
# at the end if any run failed:
#   1. every default sanity test (validate-modules, compile, import, pep8, pylint,
#      yamllint, ansible-doc, shebang, shellcheck, ...) with $ANSIBLE_TEST on
#      --python $SANITY_PYTHON (a controller Python that this ansible-test accepts);
#   2. compile + import on each of $SANITY_TARGET_PYTHONS (module target versions that
#      this ansible-test knows; 3.6 only up to ansible-core 2.16);
# and, first, checks that every line of tests/sanity/ignore-*.txt ends with a comment
# giving the reason ("path test:code  # why"): our rule for ignores.
#
# How it works without Docker and without internet (only package registries):
# ansible-test runs each sanity test in its own virtualenv under ~/.ansible/test/venv
# (cached, reused while the test's requirements stay the same), created without pip and
# bootstrapped by a get-pip.py that it downloads from ci-files.testing.ansible.com,
# which is unreachable here.  ansible-test first looks for that script in
# ~/.ansible/test/cache/get_pip_<version>.py (its download error says to put it there),
# so seed_get_pip.py writes an equivalent script there, built from the pinned pip wheel
# taken from PyPI.  It also carries the caller's PIP_*/certificate environment into the
# new virtualenvs, since ansible-test scrubs the environment of its pip runs.
# ansible-test's own code is not changed.
#
# Environment:
#   ANSIBLE_TEST          ansible-test to use (default .venv/bin/ansible-test)
#   SANITY_PYTHON         Python of run 1 (default 3.11)
#   SANITY_TARGET_PYTHONS compile+import Pythons (default "3.8 3.9 3.10 3.12 3.13"; "" = none)
#   SANITY_MISSING_PYTHON fail (default): a Python of SANITY_TARGET_PYTHONS that is not
#                         installed fails the run; skip: skipped with a warning
#   TARGET_PYTHON_PY36    Python 3.6 interpreter (default: pyenv's 3.6, as in the Makefile)
#   SANITY_TESTS_FROM     source tree whose tests/ the copy gets when it has none
#                         (default: this repository)
#   SANITY_SHELLCHECK     auto (default): apt-get install shellcheck when missing and
#                         root, so the shellcheck test does not skip; 0: never install
#   SANITY_ARGS           extra arguments for run 1, e.g. "--test pep8 --test pylint"
#   SANITY_BUILD          staging root (default .build/sanity)
#   SANITY_JUNIT          if set, write one merged JUnit report of all runs there
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
src=${1:-$repo}

ANSIBLE_TEST=${ANSIBLE_TEST:-$repo/.venv/bin/ansible-test}
SANITY_PYTHON=${SANITY_PYTHON:-3.11}
SANITY_TARGET_PYTHONS=${SANITY_TARGET_PYTHONS-3.8 3.9 3.10 3.12 3.13}
SANITY_MISSING_PYTHON=${SANITY_MISSING_PYTHON:-fail}
SANITY_TESTS_FROM=${SANITY_TESTS_FROM:-$repo}
SANITY_SHELLCHECK=${SANITY_SHELLCHECK:-auto}
SANITY_ARGS=${SANITY_ARGS:-}
SANITY_BUILD=${SANITY_BUILD:-$repo/.build/sanity}
SANITY_JUNIT=${SANITY_JUNIT:-}

say() { echo "run-sanity: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# The python of the virtualenv holding an ansible-test: it has ansible-test's modules and PyYAML.
venv_python() {
    local at py
    at=$(command -v "$1") || die "no ansible-test at '$1' (run 'make venv', or set ANSIBLE_TEST)"
    py=$(dirname "$at")/python
    [ -x "$py" ] || py=$(sed -n '1s/^#! *//p' "$at")
    "$py" -c 'import ansible_test, yaml' 2>/dev/null || die "$at: its python ($py) cannot import ansible_test"
    echo "$py"
}

# A working interpreter for Python X.Y: pyenv's, then the system's (never pyenv shims,
# which only run the versions selected in pyenv).
find_interpreter() {
    local ver=$1 cand
    if [ "$ver" = 3.6 ] && [ -n "${TARGET_PYTHON_PY36:-}" ]; then
        set -- "$TARGET_PYTHON_PY36"
    else
        set -- "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$ver".*/bin/python"$ver" \
            /usr/local/bin/python"$ver" /usr/bin/python"$ver"
    fi
    for cand in "$@"; do
        if [ -x "$cand" ] && "$cand" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$ver'" 2>/dev/null; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

# Offer Python X.Y to ansible-test: by path (--python-interpreter), and as `pythonX.Y` on
# PATH, where ansible-test looks for the interpreter that creates its virtualenvs.  On PATH
# it is a tiny exec wrapper in $bindir, which adds no other python/pip to PATH, and (unlike
# a symlink) lets the cached virtualenvs record the real interpreter, so that they survive
# the removal of $bindir.  Prints the real interpreter.
bindir=$SANITY_BUILD/bin
rm -rf "$bindir"
offer_interpreter() {
    local ver=$1 real
    real=$(find_interpreter "$ver") || return 1
    mkdir -p "$bindir"
    printf '#!/bin/sh\nexec %q "$@"\n' "$real" >"$bindir/python$ver"
    chmod +x "$bindir/python$ver"
    echo "$real"
}

at_py=$(venv_python "$ANSIBLE_TEST")
at=$(command -v "$ANSIBLE_TEST")
say "ansible-test: $at ($("$at_py" -c 'from ansible.release import __version__; print(__version__)'))"

# --- optional tool: shellcheck (the shellcheck test is skipped with a warning without it)
if ! command -v shellcheck >/dev/null 2>&1 && [ "$SANITY_SHELLCHECK" != 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing shellcheck with apt-get so that the shellcheck sanity test runs"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q shellcheck >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q shellcheck >/dev/null; } \
            || say "WARNING: could not install shellcheck; the shellcheck test will be skipped"
    else
        say "WARNING: shellcheck not installed; the shellcheck test will be skipped"
    fi
fi

# --- stage the collection -------------------------------------------------------------
dest=$("$at_py" "$here/sanity_tree.py" stage "$src" "$SANITY_BUILD" "$SANITY_TESTS_FROM")
git -C "$dest" init -q
printf '/tests/output/\n' >>"$dest/.git/info/exclude"
say "testing a copy of $src in $dest"

# --- pip bootstrap for ansible-test's virtualenvs (see the header) ---------------------
"$at_py" "$here/seed_get_pip.py"

rc=0
failed=()
run() {  # run LABEL CMD...: run in the staged copy, record a failure and go on
    local label=$1 start=$SECONDS
    shift
    say "[$label] $*"
    if ! (cd "$dest" && PATH="$bindir:$PATH" "$@"); then
        rc=1
        failed+=("$label")
    fi
    say "[$label] took $((SECONDS - start))s"
}

# 0. our policy: an ignore line is only acceptable with a reason ("path test:code  # why")
bad_ignores=$(cd "$dest" && shopt -s nullglob && for f in tests/sanity/ignore-*.txt; do
    grep -HnvE '^[^ #][^#]* +#.*[^[:space:]#]' "$f" || true; done)
if [ -n "$bad_ignores" ]; then
    say "ERROR: tests/sanity/ignore-*.txt lines without a '# reason why it cannot be fixed' comment:"
    printf '%s\n' "$bad_ignores" >&2
    rc=1
    failed+=("ignore-comments")
fi

# 1. all default tests on the controller Python
offer_interpreter "$SANITY_PYTHON" >/dev/null || true  # used only if not ansible-test's own
# shellcheck disable=SC2086  # SANITY_ARGS is a list of words
run "sanity python$SANITY_PYTHON" "$at" sanity --junit --python "$SANITY_PYTHON" $SANITY_ARGS

# 2. compile + import on the other module target Pythons that this ansible-test supports
for ver in $SANITY_TARGET_PYTHONS; do
    if real=$(offer_interpreter "$ver"); then
        run "compile+import python$ver" "$at" sanity --junit --test compile --test import \
            --python "$ver" --python-interpreter "$real"
    elif [ "$SANITY_MISSING_PYTHON" = skip ]; then
        say "WARNING: no Python $ver interpreter found, skipping compile+import on $ver"
    else
        say "ERROR: no Python $ver interpreter found for compile+import (pyenv install $ver.x, or SANITY_MISSING_PYTHON=skip)"
        rc=1
        failed+=("python$ver missing")
    fi
done

if [ -n "$SANITY_JUNIT" ]; then
    shopt -s nullglob
    reports=("$dest"/tests/output/junit/*.xml)
    if [ ${#reports[@]} -gt 0 ]; then
        "$at_py" "$here/sanity_tree.py" junit "$SANITY_JUNIT" "${reports[@]}"
    else
        say "WARNING: ansible-test wrote no JUnit report"
    fi
fi

if [ "$rc" != 0 ]; then
    say "FAILED: ${failed[*]} (see the ERROR lines above; results in $dest/tests/output)"
else
    say "all sanity runs passed"
fi
exit "$rc"
