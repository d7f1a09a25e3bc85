#!/usr/bin/env bash
# Compile one lock: .ci/lock.sh NAME X.Y   (what `make lock` runs for each venv)
#
# Resolves requirements/NAME.in for Python X.Y (the interpreter .ci/find-python.sh finds,
# the one the venv runs on, so that environment markers are those of the venv) into
# requirements/NAME.txt: every package that ends up installed, pinned to one version,
# with the sha256 of each of its files on the index. The versions already in NAME.txt are
# kept unless the .in no longer allows them (so an unchanged tree gives no diff);
# UPGRADE=1 moves every package to its newest allowed version, UPGRADE_PACKAGES='a b'
# only those. uv runs from .venv-uv (.ci/mkvenv.sh --uv).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=${1:?usage: lock.sh NAME X.Y}
ver=${2:?usage: lock.sh NAME X.Y}
in=$repo/requirements/$name.in
out=$repo/requirements/$name.txt
[ -f "$in" ] || { echo "lock: no $in" >&2; exit 1; }
python=$("$repo/.ci/find-python.sh" "$ver")
export UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
args=()
[ "${UPGRADE:-}" != 1 ] || args+=(--upgrade)
for p in ${UPGRADE_PACKAGES:-}; do args+=(--upgrade-package "$p"); done
cd "$repo/requirements"
"$repo/.venv-uv/bin/uv" pip compile -q --generate-hashes --python "$python" \
    --custom-compile-command 'make lock' --no-emit-index-url \
    ${args[@]+"${args[@]}"} -o "$name.txt" "$name.in"
echo "lock: requirements/$name.txt for Python $ver: $(grep -c '^[a-zA-Z0-9]' "$out") packages" >&2
