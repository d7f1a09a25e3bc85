# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-doc renders every module of the installed collection, and the docs hold up:
the short descriptions, options and return values ansible-doc reports are the modules'
own, and every EXAMPLES block is YAML whose tasks only use options the module has."""

import ast
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible.parsing.splitter import parse_kv

COLLECTION = 'asyncjobs.named'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Task keywords that may sit next to the module in an example task.
TASK_KEYWORDS = {
    'name', 'register', 'when', 'until', 'retries', 'delay', 'loop', 'loop_control', 'async',
    'poll', 'become', 'become_user', 'delegate_to', 'ignore_errors', 'changed_when',
    'failed_when', 'vars', 'environment', 'tags', 'check_mode', 'notify', 'no_log', 'timeout',
}


def _doc_strings(path):
    """DOCUMENTATION, EXAMPLES and RETURN of a module file, read without importing it."""
    found = {}
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ('DOCUMENTATION', 'EXAMPLES', 'RETURN')):
            found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


def with_fragments(doc, installed_collection):
    """``doc`` with the options of the collection's doc fragments merged in, as ansible-doc
    merges them (the fragment's option, updated with the module's keys)."""
    options = doc.setdefault('options', {})
    for fragment in doc.get('extends_documentation_fragment', []):
        parts = fragment.split('.')
        if parts[:2] != ['asyncjobs', 'named']:
            continue
        var = parts[3].upper() if len(parts) > 3 else 'DOCUMENTATION'
        path = str(installed_collection / 'plugins' / 'doc_fragments' / (parts[2] + '.py'))
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        text = next(ast.literal_eval(n.value) for n in ast.walk(tree)
                    if isinstance(n, ast.Assign) and getattr(n.targets[0], 'id', None) == var)
        for key, option in (yaml.safe_load(text).get('options') or {}).items():
            options[key] = dict(option, **options.get(key, {}))
    return doc


@pytest.fixture(scope='module')
def modules(installed_collection):
    """{short name: {'path', 'doc', 'examples', 'return'}} for every installed module file."""
    mod_dir = installed_collection / 'plugins' / 'modules'
    result = {}
    for name in sorted(os.listdir(str(mod_dir))):
        if not name.endswith('.py') or name == '__init__.py':
            continue
        path = str(mod_dir / name)
        strings = _doc_strings(path)
        assert sorted(strings) == ['DOCUMENTATION', 'EXAMPLES', 'RETURN'], path
        doc = with_fragments(yaml.safe_load(strings['DOCUMENTATION']), installed_collection)
        result[name[:-3]] = dict(path=path, doc=doc, examples=strings['EXAMPLES'],
                                 ret=yaml.safe_load(strings['RETURN']))
    assert result, 'no modules installed in %s' % mod_dir
    return result


@pytest.fixture(scope='module')
def ansible_doc(installed_collection, session_dir):
    exe = shutil.which('ansible-doc', path=os.path.dirname(sys.executable))
    assert exe, 'ansible-doc not found next to %s' % sys.executable
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed_collection.parents[2]),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='False', ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORCE_COLOR='0', COLUMNS='200', ANSIBLE_CONFIG=str(session_dir / 'ansible.cfg'))

    def run(*args):
        p = subprocess.run([exe] + list(args), env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120, check=False)  # callers check rc
        return p
    return run


def _fqcn(name):
    return '%s.%s' % (COLLECTION, name)


def _ok(p):
    """rc 0 and nothing on stderr (no warning, no error)."""
    assert p.returncode == 0 and p.stderr.strip() == '', (p.args, p.returncode, p.stderr)


def test_installed_modules_are_the_source_modules(modules):
    src = sorted(n[:-3] for n in os.listdir(os.path.join(REPO, 'plugins', 'modules'))
                 if n.endswith('.py') and n != '__init__.py')
    assert sorted(modules) == src
    for name, m in modules.items():
        assert m['doc']['module'] == name, m['path']


def _sections(text, marker):
    """Split ansible-doc output of several plugins at the lines starting with ``marker``."""
    sections = []
    for line in text.splitlines():
        if line.startswith(marker):
            sections.append([])
        if sections:
            sections[-1].append(line)
    return ['\n'.join(s) for s in sections]


@pytest.mark.matrix
def test_ansible_doc_renders_every_module(modules, ansible_doc):
    names = sorted(modules)
    p = ansible_doc(*[_fqcn(n) for n in names])
    if p.returncode != 0 or p.stderr.strip():
        bad = [(n, q.returncode, q.stderr) for n, q in ((n, ansible_doc(_fqcn(n))) for n in names)
               if q.returncode != 0 or q.stderr.strip()]
        pytest.fail('ansible-doc fails on %s' % (bad or p.stderr))
    sections = _sections(p.stdout, '> ')
    assert len(sections) == len(names), p.stdout
    for name, text in zip(names, sections):
        m = modules[name]
        header = text.splitlines()[0]
        # 2.19: "> MODULE asyncjobs.named.x (path)"; 2.16: "> ASYNCJOBS.NAMED.X    (path)"
        assert _fqcn(name) in header.lower() and header.endswith('(%s)' % m['path']), header
        for option in m['doc']['options']:
            assert re.search(r'^\s*(- )?%s\b' % re.escape(option), text, re.M), (name, option)

    # the text view has no short description; the snippet view names the task with it
    s = ansible_doc('-s', *[_fqcn(n) for n in names])
    _ok(s)
    snippets = _sections(s.stdout, '- name: ')
    assert [x.splitlines()[0] for x in snippets] == [
        '- name: %s' % modules[n]['doc']['short_description'] for n in names]
    assert [x.splitlines()[1].strip() for x in snippets] == ['%s:' % n for n in names]


def test_ansible_doc_lists_every_module(modules, ansible_doc):
    p = ansible_doc('-l', COLLECTION)
    _ok(p)
    listed = {}
    for line in p.stdout.splitlines():
        fqcn, _sep, desc = line.strip().partition(' ')
        listed[fqcn] = desc.strip()
    assert sorted(listed) == sorted(_fqcn(n) for n in modules)
    for name, m in modules.items():
        desc, short = listed[_fqcn(name)], m['doc']['short_description']
        # long descriptions are cut to the terminal width with "..."
        assert desc == short or (desc.endswith('...') and short.startswith(desc[:-3])), (desc, short)

    p = ansible_doc('--json', '-l', COLLECTION)
    _ok(p)
    assert json.loads(p.stdout) == dict((_fqcn(n), m['doc']['short_description'])
                                        for n, m in modules.items())


def test_ansible_doc_json(modules, installed_collection, ansible_doc):
    p = ansible_doc('--json', *[_fqcn(n) for n in modules])
    _ok(p)
    docs = json.loads(p.stdout)
    assert sorted(docs) == sorted(_fqcn(n) for n in modules)
    for name, m in modules.items():
        d = docs[_fqcn(name)]
        doc = d['doc']
        assert doc['short_description'] == m['doc']['short_description']
        assert doc['module'] == name
        assert doc['collection'] == COLLECTION
        assert doc['filename'] == m['path']
        assert sorted(doc['options']) == sorted(m['doc']['options'])
        for opt, spec in m['doc']['options'].items():
            assert doc['options'][opt].get('type', 'str') == spec.get('type', 'str'), (name, opt)
        assert sorted(d['return']) == sorted(m['ret'])
        assert d['examples'] == m['examples']
        has_action = (installed_collection / 'plugins' / 'action' / ('%s.py' % name)).is_file()
        assert doc['has_action'] is has_action, name


def test_examples_are_yaml_tasks_with_known_options(modules):
    for name, m in modules.items():
        tasks = yaml.safe_load(m['examples'])
        assert isinstance(tasks, list) and tasks, (name, tasks)
        used = 0
        for task in tasks:
            assert isinstance(task, dict) and task.get('name'), (name, task)
            actions = [k for k in task if k not in TASK_KEYWORDS]
            assert len(actions) == 1, (name, task)   # exactly one module per task
            action = actions[0]
            if not action.startswith(COLLECTION + '.'):
                continue
            short = action[len(COLLECTION) + 1:]
            assert short in modules, (name, action)
            args = task[action]
            if isinstance(args, str):              # key=value form
                args = parse_kv(args)
            assert isinstance(args, dict), (name, task)
            unknown = set(args) - set(modules[short]['doc']['options'])
            assert not unknown, (name, action, sorted(unknown))
            required = [o for o, s in modules[short]['doc']['options'].items() if s.get('required')]
            assert set(required) <= set(args), (name, action, required)
            used += 1
        assert used, 'the examples of %s never use a module of the collection' % name
