#!/usr/bin/env bash
# Print the path of a working Python X.Y interpreter: .ci/find-python.sh 3.13
#
# Used for the controller Pythons of the venvs (ansible-core 2.20 and 2.21 need 3.12+)
# and for the target Pythons of `make matrix` and `make integration`. Order:
#   1. $PYTHON<XY> (e.g. PYTHON36=/opt/py36/bin/python3.6, PYTHON313=...); for 3.6 also
#      the older name TARGET_PYTHON_PY36;
#   2. pyenv's newest X.Y.* ($PYENV_ROOT, default ~/.pyenv; `pyenv install X.Y` adds one);
#   3. /usr/local/bin/pythonX.Y, /usr/bin/pythonX.Y.
# Never a pyenv shim (it runs only the versions selected in pyenv). Fails loudly when
# none works: each version of the matrix is a requirement, not an option.
set -euo pipefail
ver=${1:?usage: find-python.sh X.Y}
[[ $ver =~ ^[0-9]+\.[0-9]+$ ]] || { echo "find-python: '$ver' is not X.Y" >&2; exit 2; }

var=PYTHON${ver/./}
cands=()
[ -z "${!var:-}" ] || cands+=("${!var}")
[ "$ver" != 3.6 ] || [ -z "${TARGET_PYTHON_PY36:-}" ] || cands+=("$TARGET_PYTHON_PY36")
root=${PYENV_ROOT:-$HOME/.pyenv}
while IFS= read -r d; do
    cands+=("$d/bin/python$ver")
done < <(ls -d "$root/versions/$ver".* 2>/dev/null | sort -rV)
cands+=("/usr/local/bin/python$ver" "/usr/bin/python$ver")

for cand in "${cands[@]}"; do
    if [ -x "$cand" ] && "$cand" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$ver'" >/dev/null 2>&1; then
        echo "$cand"
        exit 0
    fi
done
{
    echo "ERROR: no working Python $ver interpreter (looked at: ${cands[*]})."
    echo "       Install it with pyenv (pyenv install $ver) or set $var=/path/to/python$ver."
} >&2
exit 1
