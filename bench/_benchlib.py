# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the benchmarks in bench/ (not part of the collection)."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
COLLECTION_SUBDIR = os.path.join('ansible_collections', 'asyncjobs', 'named')


def die(msg):
    sys.stderr.write('%s: error: %s\n' % (os.path.basename(sys.argv[0]), msg))
    sys.exit(2)


def find_bin_dir(explicit=None):
    """(bin dir, where it came from): the dir with ansible-playbook and its python.

    ``explicit`` (a --bin-dir) if given, else $ANSIBLE_BIN_DIR, else the repo's .venv/bin
    (made by `make venv`)."""
    if explicit:
        candidates = [('--bin-dir', explicit)]
    else:
        candidates = []
        if os.environ.get('ANSIBLE_BIN_DIR'):
            candidates.append(('ANSIBLE_BIN_DIR', os.environ['ANSIBLE_BIN_DIR']))
        candidates.append(('.venv', os.path.join(REPO, '.venv', 'bin')))
    for origin, path in candidates:
        if os.access(os.path.join(path, 'ansible-playbook'), os.X_OK) \
                and os.access(os.path.join(path, 'python'), os.X_OK):
            return os.path.abspath(path), origin
        if origin != '.venv':
            die('%s (%s) has no executable ansible-playbook and python' % (path, origin))
    die('no ansible found: run `make venv` (creates .venv), or set ANSIBLE_BIN_DIR to the bin '
        'dir of a virtualenv with ansible-core, or pass --bin-dir')


def find_collections_path(explicit=None):
    """Where asyncjobs.named is installed: ``explicit`` (a --collections-path) if given,
    else the first entry of $ANSIBLE_COLLECTIONS_PATH that has it, else .build/collections
    (made by `make build`)."""
    if explicit:
        candidates = [explicit]
    else:
        candidates = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
        candidates.append(os.path.join(REPO, '.build', 'collections'))
    for path in candidates:
        if os.path.isdir(os.path.join(path, COLLECTION_SUBDIR, 'plugins')):
            return os.path.abspath(path)
    die('asyncjobs.named is not installed in %s: run `make build`, or install it with '
        'ansible-galaxy collection install -p DIR and pass --collections-path DIR (or set '
        'ANSIBLE_COLLECTIONS_PATH)' % ' or '.join(candidates))


def default_target_python(bin_dir, explicit=None):
    """Interpreter of localhost as a target: ``explicit`` (a --target-python), else
    $TARGET_PYTHON, else /usr/bin/python3, else the python of ``bin_dir``. Always set
    explicitly: interpreter discovery can pick a broken pyenv shim."""
    for path in (explicit, os.environ.get('TARGET_PYTHON'), '/usr/bin/python3'):
        if path and os.access(path, os.X_OK):
            return path
        if path and path != '/usr/bin/python3':
            die('target python %s is not executable' % path)
    return os.path.join(bin_dir, 'python')


def stale_files(collections_path):
    """Files of plugins/ that differ between the working tree and the installed collection."""
    installed = os.path.join(collections_path, COLLECTION_SUBDIR)
    differ = []
    for root, dirs, files in os.walk(os.path.join(REPO, 'plugins')):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        for name in files:
            if not name.endswith('.py'):
                continue
            src = os.path.join(root, name)
            rel = os.path.relpath(src, REPO)
            dst = os.path.join(installed, rel)
            if not os.path.exists(dst) or _digest(src) != _digest(dst):
                differ.append(rel)
    return sorted(differ)


def _digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def ansible_version(bin_dir):
    out = subprocess.run([os.path.join(bin_dir, 'python'), '-c',
                          'import ansible.release, sys; '
                          'print(ansible.release.__version__, sys.version.split()[0])'],
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0], out[1]


def percentile(values, pct):
    """Linear-interpolated percentile (pct in 0..100) of a non-empty list."""
    s = sorted(values)
    k = (len(s) - 1) * pct / 100.0
    lo, hi = int(math.floor(k)), int(math.ceil(k))
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median(values):
    return percentile(values, 50)


def mean(values):
    return sum(values) / len(values)
