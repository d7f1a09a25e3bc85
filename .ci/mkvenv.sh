#!/usr/bin/env bash
# Create or refresh a virtualenv from its lock: .ci/mkvenv.sh VENV_DIR LOCK_FILE
#
# The lock (requirements/<name>.txt, written by `make lock` from requirements/<name>.in)
# pins every package with its hashes. The venv gets exactly what the lock lists, nothing
# more: `uv pip sync --require-hashes` installs without resolving anything and removes
# what the lock does not name; then `pip check` and a comparison of `pip freeze --all`
# with the lock must pass, or the venv is left unstamped and the command fails.
#
# Idempotent and cheap when nothing changed: the venv is synced again only when the lock
# differs from the copy kept as stamp (VENV_DIR/.lock.stamp; VENV_DIR/.lock.path names the
# lock, for the summary of `make test`), and recreated only when its
# interpreter no longer runs or is another X.Y version than the base interpreter ($PYTHON,
# default python3; a matrix row changed its controller Python).
#
# uv itself lives in .venv-uv: a venv made by `python3 -m venv` (UV_PYTHON_BASE overrides
# python3; $PYTHON does not, so every venv shares one .venv-uv), into which pip installs
# requirements/uv.txt (--require-hashes --no-deps); uv then syncs that venv to the same
# lock, so even its pip is the locked one (and the venv's own setuptools goes). `.ci/mkvenv.sh --uv` only bootstraps it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
uv_venv=$repo/.venv-uv
uv_lock=$repo/requirements/uv.txt
uv=$uv_venv/bin/uv
py=${PYTHON:-python3}
uv_py=${UV_PYTHON_BASE:-python3}  # the base of .venv-uv, whatever $PYTHON a caller sets
export UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1

pyver() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
venv_ok() {  # VENV BASE: its interpreter runs and is the X.Y of the base interpreter
    [ -x "$1/bin/python" ] && "$1/bin/python" -c 'import sys' >/dev/null 2>&1 || return 1
    [ "$(pyver "$1/bin/python")" = "$(pyver "$2")" ]
}
fresh() {  # VENV LOCK BASE: nothing to do
    venv_ok "$1" "$3" && [ -f "$1/.lock.stamp" ] && cmp -s "$1/.lock.stamp" "$2"
}

# The venv holds what the lock lists, at the lock's versions, and nothing else.
check_venv() {  # VENV LOCK
    "$1/bin/python" -m pip check --disable-pip-version-check >&2 \
        || { echo "mkvenv: pip check failed in $1" >&2; return 1; }
    "$1/bin/python" - "$2" <<'EOF' || return 1
import re, subprocess, sys
norm = lambda name: re.sub(r'[-_.]+', '-', name).lower()
locked = {}
for line in open(sys.argv[1], encoding='utf-8'):
    m = re.match(r'^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^]]*\])?==([^ ;\\]+)', line)
    if m:
        locked[norm(m.group(1))] = m.group(2)
out = subprocess.run([sys.executable, '-m', 'pip', 'freeze', '--all', '--disable-pip-version-check'],
                     capture_output=True, text=True, check=True).stdout
have = {}
for line in out.splitlines():
    name, _, version = line.partition('==')
    have[norm(name)] = version
wrong = sorted('%s %s (lock: %s)' % (n, v, locked.get(n, 'absent'))
               for n, v in have.items() if locked.get(n) != v)
wrong += sorted('%s absent (lock: %s)' % (n, v) for n, v in locked.items() if n not in have)
if wrong:
    sys.exit('mkvenv: %s differs from %s: %s' % (sys.prefix, sys.argv[1], '; '.join(wrong)))
EOF
}

bootstrap_uv() {
    local py=$uv_py
    fresh "$uv_venv" "$uv_lock" "$py" && return 0
    command -v "$py" >/dev/null 2>&1 || { echo "ERROR: no '$py' interpreter on PATH (set UV_PYTHON_BASE=/path/to/python3)." >&2; exit 1; }
    # Debian/Ubuntu split venv/ensurepip out of the python3 package.
    if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "mkvenv: '$py' has no venv/ensurepip module; installing python3-venv" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -q
            apt-get install -y -q python3-venv
        fi
        "$py" -c 'import venv, ensurepip' >/dev/null 2>&1 || {
            echo "ERROR: '$py' cannot create virtualenvs (module venv/ensurepip missing):" >&2
            echo "       apt-get install python3-venv, or PYTHON=/path/to/python3 make ..." >&2
            exit 1; }
    fi
    echo "mkvenv: creating $uv_venv (uv, from $uv_lock)" >&2
    rm -rf "$uv_venv"
    "$py" -m venv "$uv_venv"
    "$uv_venv/bin/python" -m pip install --disable-pip-version-check --no-input -qq \
        --require-hashes --no-deps -r "$uv_lock"
    "$uv" pip sync -q --require-hashes --python "$uv_venv/bin/python" "$uv_lock"
    # uv's sync keeps the seed packages that `python -m venv` put there (setuptools on
    # Python < 3.12); the lock does not name them, so they go.
    for seed in setuptools wheel; do
        grep -qi "^$seed==" "$uv_lock" || ! "$uv_venv/bin/python" -m pip show -q "$seed" >/dev/null 2>&1 \
            || "$uv" pip uninstall -q --python "$uv_venv/bin/python" "$seed"
    done
    check_venv "$uv_venv" "$uv_lock"
    cp "$uv_lock" "$uv_venv/.lock.stamp"
    echo requirements/uv.txt > "$uv_venv/.lock.path"
}

if [ "${1:-}" = --uv ]; then
    bootstrap_uv
    exit 0
fi

venv=${1:?usage: mkvenv.sh VENV_DIR LOCK_FILE | mkvenv.sh --uv}
lock=${2:?usage: mkvenv.sh VENV_DIR LOCK_FILE}
[ -f "$lock" ] || { echo "mkvenv: no lock $lock (make lock writes it from ${lock%.txt}.in)" >&2; exit 1; }
fresh "$venv" "$lock" "$py" && exit 0
command -v "$py" >/dev/null 2>&1 || { echo "ERROR: no '$py' interpreter on PATH (set PYTHON=/path/to/python3)." >&2; exit 1; }
bootstrap_uv

if ! venv_ok "$venv" "$py"; then
    echo "mkvenv: creating $venv with $("$py" -c 'import sys; print(sys.executable)')" >&2
    rm -rf "$venv"
    "$uv" venv -q --python "$("$py" -c 'import sys; print(sys.executable)')" "$venv"
fi
echo "mkvenv: syncing $venv to $lock" >&2
rm -f "$venv/.lock.stamp"
"$uv" pip sync -q --require-hashes --python "$venv/bin/python" "$lock"
check_venv "$venv" "$lock"
cp "$lock" "$venv/.lock.stamp"
# Which lock this venv holds, for the summary of `make test` (.ci/compat.py, .ci/summary.py).
realpath --relative-to="$repo" "$lock" > "$venv/.lock.path"
