#!/usr/bin/env bash
# Create or refresh a test virtualenv: .ci/mkvenv.sh VENV_DIR REQUIREMENTS_FILE
#
# Idempotent and cheap when nothing changed: the venv is reinstalled only when the
# requirements file differs from the copy kept as stamp (VENV_DIR/.requirements.stamp),
# and recreated only when its interpreter no longer runs (e.g. the base python moved)
# or is another X.Y version than the base interpreter (a matrix row changed its
# controller Python). The base interpreter is $PYTHON (default python3).
set -euo pipefail

venv=${1:?usage: mkvenv.sh VENV_DIR REQUIREMENTS_FILE}
req=${2:?usage: mkvenv.sh VENV_DIR REQUIREMENTS_FILE}
py=${PYTHON:-python3}
stamp=$venv/.requirements.stamp

pyver() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
venv_ok() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1 || return 1
    ! command -v "$py" >/dev/null 2>&1 || [ "$(pyver "$venv/bin/python")" = "$(pyver "$py")" ]
}

if venv_ok && [ -f "$stamp" ] && cmp -s "$stamp" "$req"; then
    exit 0
fi

if ! command -v "$py" >/dev/null 2>&1; then
    echo "ERROR: no '$py' interpreter on PATH (set PYTHON=/path/to/python3)." >&2
    exit 1
fi

# Debian/Ubuntu split venv/ensurepip out of the python3 package.
if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "mkvenv: '$py' has no venv/ensurepip module; installing python3-venv" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q python3-venv
    fi
    if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo "ERROR: '$py' cannot create virtualenvs (module venv/ensurepip missing)." >&2
        echo "       On Debian/Ubuntu install it as root: apt-get install python3-venv" >&2
        echo "       or point PYTHON at another python3 (PYTHON=/path/to/python3 make ...)." >&2
        exit 1
    fi
fi

if ! venv_ok; then
    echo "mkvenv: creating $venv with $("$py" -c 'import sys; print(sys.executable)')" >&2
    rm -rf "$venv"
    "$py" -m venv "$venv"
fi

echo "mkvenv: installing $req into $venv" >&2
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -qq -r "$req"
cp "$req" "$stamp"
