# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The matrix subset (tests marked ``matrix``, which `make matrix` runs on every other
ansible-core version) uses every module of the collection.

A static check, so that a new module, or a test moved out of the subset, cannot leave a
module untested on most versions: it collects the marked tests (pytest --collect-only
-m matrix), finds the playbooks each one runs (string constants ending in .yml in the
test function, its parametrize decorators and the fixtures of its module it asks for),
follows their ``tasks/*.yml`` includes, and reads the module names they call. Internal
modules (short_description "Internal ...") are used through the others and need no test
of their own.
"""

import ast
import glob
import os
import re
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INTEGRATION = os.path.join(REPO, 'tests', 'integration')
PLAYBOOKS = os.path.join(INTEGRATION, 'playbooks')


def _public_modules():
    found = []
    for path in sorted(glob.glob(os.path.join(REPO, 'plugins', 'modules', '*.py'))):
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and getattr(node.targets[0], 'id', None) == 'DOCUMENTATION'):
                doc = yaml.safe_load(ast.literal_eval(node.value))
                if not str(doc.get('short_description', '')).startswith('Internal'):
                    found.append(doc['module'])
    return found


@pytest.fixture(scope='module')
def matrix_tests():
    p = subprocess.run([sys.executable, '-m', 'pytest', INTEGRATION, '-m', 'matrix', '--collect-only',
                        '-q', '-p', 'no:cacheprovider'], cwd=REPO, capture_output=True, text=True,
                       check=False)  # the assert below shows the output
    ids = [line.strip() for line in p.stdout.splitlines() if '::' in line]
    assert p.returncode == 0 and ids, p.stdout + p.stderr
    return ids


def _functions(path):
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _playbooks_of(func, functions, seen):
    if func.name in seen:
        return set()
    seen.add(func.name)
    found = {n.value for n in ast.walk(func)
             if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.endswith('.yml')}
    for arg in func.args.args:
        if arg.arg in functions:  # a fixture of the same test module
            found |= _playbooks_of(functions[arg.arg], functions, seen)
    return found


def _modules_in(playbook, seen):
    path = os.path.join(PLAYBOOKS, playbook)
    if playbook in seen or not os.path.isfile(path):
        return set()
    seen.add(playbook)
    with open(path, encoding='utf-8') as f:
        text = f.read()
    used = set(re.findall(r'^\s*-?\s*(?:asyncjobs\.named\.)?(async_\w+):', text, re.M))
    for include in re.findall(r'(tasks/[\w.-]+\.yml)', text):
        used |= _modules_in(include, seen)
    return used


def test_the_matrix_subset_uses_every_module(matrix_tests):
    used, playbooks = set(), set()
    cache = {}
    for node in matrix_tests:
        rel, name = node.split('::')[0], node.split('::')[1].split('[')[0]
        functions = cache.setdefault(rel, _functions(os.path.join(REPO, rel)))
        assert name in functions, node
        playbooks |= _playbooks_of(functions[name], functions, set())
    seen = set()
    for pb in playbooks:
        used |= _modules_in(pb, seen)
    missing = [m for m in _public_modules() if m not in used]
    assert not missing, ('modules that no test marked @pytest.mark.matrix runs, so `make matrix` '
                         'tests them on no other ansible-core version: %s (playbooks of the '
                         'subset: %s)' % (missing, sorted(playbooks)))
