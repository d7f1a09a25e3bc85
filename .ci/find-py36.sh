#!/usr/bin/env bash
# Print the path of the Python 3.6 interpreter used as target by `make integration-py36`.
# Order: $TARGET_PYTHON_PY36, then `pyenv prefix $PY36_VERSION` (pyenv from PATH or
# $PYENV_ROOT, default ~/.pyenv), then $PYENV_ROOT/versions/$PY36_VERSION directly.
# Python 3.6 targets are a hard requirement of this collection: fail loudly when absent.
set -euo pipefail
ver=${PY36_VERSION:-3.6.15}

if [ -n "${TARGET_PYTHON_PY36:-}" ]; then
    cand=$TARGET_PYTHON_PY36
else
    root=${PYENV_ROOT:-$HOME/.pyenv}
    pyenv_bin=$(command -v pyenv 2>/dev/null || true)
    [ -n "$pyenv_bin" ] || { [ -x "$root/bin/pyenv" ] && pyenv_bin=$root/bin/pyenv; } || true
    prefix=
    if [ -n "$pyenv_bin" ]; then
        prefix=$("$pyenv_bin" prefix "$ver" 2>/dev/null || true)
    fi
    [ -n "$prefix" ] || prefix=$root/versions/$ver
    cand=$prefix/bin/python3.6
fi

if [ ! -x "$cand" ] || ! "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 6)' >/dev/null 2>&1; then
    {
        echo "ERROR: no working Python 3.6 target interpreter (looked at: $cand)."
        echo "       integration-py36 is required: it checks the collection's modules on Python 3.6 targets."
        echo "       Install it with pyenv (pyenv install $ver) or set TARGET_PYTHON_PY36=/path/to/python3.6."
    } >&2
    exit 1
fi
echo "$cand"
