#!/usr/bin/env bash
# Run the async_status_id module alone, outside Ansible (the design's "module alone"
# recipe): no controller, no action plugin, just the module's JSON API on this machine.
#
#   ./examples/debug_module.sh blah                    # status of the job named blah
#   ASYNC_DIR=/tmp/x ./examples/debug_module.sh blah   # in another async dir
#   MODE=cleanup ./examples/debug_module.sh blah       # or full_cleanup; FORCE=true too
#
# It prints the exact command it runs, then the module's JSON result. It uses the
# collection as installed by `make build` (.build/collections) and the venv's python
# (.venv/bin/python); override them with COLLECTIONS=dir and PYTHON=interpreter.
# ASYNC_DIR defaults to $HOME/.ansible_async, the default async dir of native async.
# As the action plugin is not involved, ASYNC_DIR must be given exactly: the shell
# option async_dir / ANSIBLE_ASYNC_DIR / ansible_async_dir are not read here.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: [ASYNC_DIR=dir] [MODE=status|cleanup|full_cleanup] [FORCE=true] $0 ALIAS" >&2
    exit 2
fi
alias=$1
case $alias in
    *[!A-Za-z0-9_.-]*) echo "$0: invalid alias '$alias': use letters, digits, _, - and ." >&2; exit 2 ;;
esac

async_dir=${ASYNC_DIR:-$HOME/.ansible_async}
mode=${MODE:-status}
force=${FORCE:-false}
case $mode in status|cleanup|full_cleanup) ;; *) echo "$0: MODE must be status, cleanup or full_cleanup" >&2; exit 2 ;; esac
case $force in true|false) ;; *) echo "$0: FORCE must be true or false" >&2; exit 2 ;; esac
python=${PYTHON:-$repo/.venv/bin/python}
collections=${COLLECTIONS:-$repo/.build/collections}

if [ ! -x "$python" ]; then
    echo "$0: no python at $python: run 'make build' first (or set PYTHON=...)" >&2
    exit 1
fi
if [ ! -d "$collections/ansible_collections/asyncjobs/named" ]; then
    echo "$0: the collection is not installed in $collections: run 'make build' first (or set COLLECTIONS=...)" >&2
    exit 1
fi

args="{ \"ANSIBLE_MODULE_ARGS\": { \"alias\": \"$alias\", \"_async_dir\": \"$async_dir\""
if [ "$mode" != status ]; then
    args="$args, \"mode\": \"$mode\", \"force\": $force"
fi
args="$args } }"

echo "+ echo '$args' | PYTHONPATH=$collections $python -m ansible_collections.asyncjobs.named.plugins.modules.async_status_id" >&2
echo "$args" | PYTHONPATH=$collections "$python" -m ansible_collections.asyncjobs.named.plugins.modules.async_status_id
