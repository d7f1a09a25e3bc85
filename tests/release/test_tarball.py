# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built collection tarball holds what users need and nothing else.

`make tarball-check` runs this after `make build` (the tarball is
.build/asyncjobs-named-<version>.tar.gz, or $COLLECTION_TARBALL). galaxy.yml's
build_ignore keeps tests, benchmarks and developer/CI files out; this test lists the
tarball and fails on any member that ALLOWED does not expect (a new top-level file, a
stray cache, a test), and on anything shipped in the source tree's plugins/, meta/ or
docs/docsite/ that is missing from it. A new kind of file for users: add its pattern here.
"""

import fnmatch
import glob
import os
import subprocess
import tarfile

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# fnmatch patterns of the files the tarball may hold ('*' also matches '/').
ALLOWED = (
    'MANIFEST.json',
    'FILES.json',
    'README.md',
    'COPYING',
    'CHANGELOG.rst',
    'CHANGELOG.md',
    'meta/runtime.yml',
    'meta/execution-environment.yml',
    'plugins/action/*.py',
    'plugins/modules/*.py',
    'plugins/module_utils/*.py',
    'plugins/plugin_utils/*.py',
    'plugins/doc_fragments/*.py',
    'changelogs/config.yaml',
    'changelogs/changelog.yaml',
    'changelogs/fragments/*.yml',
    'changelogs/fragments/*.yaml',
    'examples/*.yml',
    'examples/tasks/*.yml',
    'docs/docsite/extra-docs.yml',
    'docs/docsite/links.yml',
    'docs/docsite/rst/*.rst',
)
# Never, even where a pattern above would match.
FORBIDDEN = ('*__pycache__*', '*.pyc', '*.pyo', '*/.*', '.*', 'tests/*', 'bench/*')
# Must be there.
REQUIRED = ('MANIFEST.json', 'FILES.json', 'README.md', 'COPYING', 'meta/runtime.yml',
            'meta/execution-environment.yml')
# Source files that must all be shipped (git-tracked files under these).
SHIPPED_TREES = ('plugins', 'meta', 'docs/docsite', 'examples')


def _galaxy():
    with open(os.path.join(REPO, 'galaxy.yml'), encoding='utf-8') as f:
        return yaml.safe_load(f)


@pytest.fixture(scope='module')
def members():
    path = os.environ.get('COLLECTION_TARBALL')
    if not path:
        g = _galaxy()
        path = os.path.join(REPO, '.build', '%s-%s-%s.tar.gz' % (g['namespace'], g['name'], g['version']))
    if not os.path.isfile(path):
        pytest.fail('no tarball at %s: run `make build` first' % path)
    with tarfile.open(path) as tar:
        found = {m.name.lstrip('./'): m for m in tar.getmembers()}
    return found


def _files(members):
    return sorted(n for n, m in members.items() if not m.isdir())


def test_only_expected_files(members):
    unexpected = [n for n in _files(members)
                  if not any(fnmatch.fnmatch(n, p) for p in ALLOWED)
                  or any(fnmatch.fnmatch(n, p) for p in FORBIDDEN)]
    assert not unexpected, ('files in the tarball that it should not ship (galaxy.yml build_ignore), '
                            'or that ALLOWED does not know yet: %s' % unexpected)


def test_no_empty_or_unexpected_directories(members):
    files = _files(members)
    dirs = sorted(n.rstrip('/') for n, m in members.items() if m.isdir())
    empty = [d for d in dirs if not any(f.startswith(d + '/') for f in files)]
    assert not empty, 'directories with no shipped file in them (left-overs of build_ignore): %s' % empty


def test_required_files(members):
    missing = [n for n in REQUIRED if n not in members]
    assert not missing, 'missing from the tarball: %s' % missing


def test_every_source_file_for_users_is_shipped(members):
    tracked = subprocess.run(['git', 'ls-files', '--'] + list(SHIPPED_TREES), cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    ignore = _galaxy().get('build_ignore') or []
    expected = [f for f in tracked if os.path.exists(os.path.join(REPO, f))
                and not any(fnmatch.fnmatch(f, p) for p in ignore)]
    assert expected, 'git lists no file under %s' % (SHIPPED_TREES,)
    missing = [f for f in expected if f not in members]
    assert not missing, 'source files missing from the tarball: %s' % missing


def test_every_module_is_shipped(members):
    mods = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'plugins', 'modules', '*.py')))
    assert mods
    missing = [m for m in mods if 'plugins/modules/' + m not in members]
    assert not missing, missing
