# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_shared/specs.py: the argument specs of the modules.

Covers ArgumentSpec (validation(), the constraints it accepts, the checks it makes on the
controller through ansible-core's ArgumentSpecValidator), SPECS, and the agreement of each
spec with its module's DOCUMENTATION: the options, and for each its type, default,
choices, elements and required. The documentation is read from the module file of the
installed collection (the tree the tests import, .build/collections), parsed with ``ast``
and PyYAML; ``doc_differences`` compares, and the negative tests show that it reports a
spec or a documentation that drifted. The constraints (mutually_exclusive,
required_one_of, required_by) are not documented as data, only in prose, so they are not
compared: test_validation_on_the_controller checks what they do.
"""

import ast
import copy
import os

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import specs

MODULES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(specs.__file__)))),
                           'modules')


FRAGMENTS_DIR = os.path.join(os.path.dirname(MODULES_DIR), 'doc_fragments')


def _assigned(path, names):
    """{name: the string assigned to it at top level or in a class} of the file ``path``."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id in names):
            found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


def module_documentation(name):
    """The DOCUMENTATION of module ``name`` of the installed collection, as data, with the
    options of the collection's doc fragments merged in as ansible-doc merges them (the
    fragment's option, updated with the module's keys)."""
    path = os.path.join(MODULES_DIR, name + '.py')
    doc = yaml.safe_load(_assigned(path, ('DOCUMENTATION',))['DOCUMENTATION'])
    options = doc.setdefault('options', {})
    for fragment in doc.get('extends_documentation_fragment', []):
        parts = fragment.split('.')
        if parts[:2] != ['asyncjobs', 'named']:
            continue
        var = parts[3].upper() if len(parts) > 3 else 'DOCUMENTATION'
        text = _assigned(os.path.join(FRAGMENTS_DIR, parts[2] + '.py'), (var,))[var]
        for key, option in (yaml.safe_load(text).get('options') or {}).items():
            options[key] = dict(option, **options.get(key, {}))
    return doc


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same_value(option_type, doc_value, spec_value):
    """True when a documented and a spec value are the same, as the option's type reads
    them: numbers of a float option compare as floats (``5`` and ``5.0``); anything else
    must be equal and of the same type (``'5'`` is not ``5``, ``0`` is not ``False``)."""
    if doc_value is None or spec_value is None:
        return doc_value is None and spec_value is None
    if option_type == 'float' and _is_number(doc_value) and _is_number(spec_value):
        return float(doc_value) == float(spec_value)
    return type(doc_value) is type(spec_value) and doc_value == spec_value


def _same_list(doc_value, spec_value):
    """Lists (choices, aliases) compare as lists, whatever sequence type holds them."""
    if doc_value is None or spec_value is None:
        return doc_value is None and spec_value is None
    return list(doc_value) == list(spec_value)


def doc_differences(argument_spec, doc_options):
    """Every difference between an argument spec and the documented options, as messages
    (an empty list when they agree). Private options (``_async_dir``...) are not
    documented and not compared."""
    spec = dict((k, v) for k, v in argument_spec.items() if not k.startswith('_'))
    doc = dict(doc_options or {})
    found = []
    for name in sorted(set(spec) - set(doc)):
        found.append('%s: in the spec, not documented' % name)
    for name in sorted(set(doc) - set(spec)):
        found.append('%s: documented, not in the spec' % name)
    for name in sorted(set(spec) & set(doc)):
        s, d = spec[name], doc[name] or {}
        option_type = s.get('type', 'str')
        compared = [
            ('type', d.get('type', 'str'), option_type, lambda a, b: a == b),
            ('default', d.get('default'), s.get('default'),
             lambda a, b: same_value(option_type, a, b)),
            ('choices', d.get('choices'), s.get('choices'), _same_list),
            ('elements', d.get('elements'), s.get('elements'), lambda a, b: a == b),
            ('aliases', d.get('aliases'), s.get('aliases'), _same_list),
            ('required', bool(d.get('required', False)), bool(s.get('required', False)),
             lambda a, b: a is b),
        ]
        for key, doc_value, spec_value, same in compared:
            if not same(doc_value, spec_value):
                found.append('%s: %s %r documented, %r in the spec'
                             % (name, key, doc_value, spec_value))
    return found


# --- every spec agrees with its module's documentation -----------------------------------------

def test_every_module_has_a_spec():
    modules = sorted(n[:-3] for n in os.listdir(MODULES_DIR)
                     if n.endswith('.py') and not n.startswith('_'))
    assert modules == sorted(specs.SPECS)


@pytest.mark.parametrize('name', sorted(specs.SPECS))
def test_spec_matches_documentation(name):
    doc = module_documentation(name)
    assert doc['module'] == name
    assert doc_differences(specs.SPECS[name].argument_spec, doc['options']) == []


# --- doc_differences reports a drift, on either side ---------------------------------------------

def _set(option, key, value):
    def change(options):
        options[option][key] = value
    return change


def _drop(option, key=None):
    def change(options):
        if key is None:
            del options[option]
        else:
            del options[option][key]
    return change


def _add(option, settings):
    def change(options):
        options[option] = settings
    return change


DRIFTS = [
    # (module, side changed, the change, the option the difference names)
    ('async_wait', 'spec', _set('timeout', 'type', 'int'), 'timeout: type'),
    ('async_wait', 'doc', _set('delay', 'type', 'int'), 'delay: type'),
    ('async_kill', 'doc', _set('signal', 'type', 'raw'), 'signal: type'),
    ('async_alias', 'spec', _drop('force'), 'force: documented, not in the spec'),
    ('async_alias', 'doc', _drop('jid'), 'jid: in the spec, not documented'),
    ('async_task', 'spec', _add('stdin_eof', dict(type='bool')), 'stdin_eof: in the spec'),
    ('async_wait', 'spec', _set('timeout', 'default', 10.0), 'timeout: default'),
    ('async_wait', 'doc', _set('retries', 'default', 3), 'retries: default'),
    ('async_wait', 'spec', _set('delay', 'default', 6.0), 'delay: default'),
    ('async_wait', 'doc', _set('delay', 'default', '5'), 'delay: default'),
    ('async_claim', 'doc', _set('waiting', 'default', 0), 'waiting: default'),
    ('async_kill', 'spec', _drop('grace', 'default'), 'grace: default'),
    ('async_status_id', 'spec', _set('mode', 'choices', ['status', 'cleanup']), 'mode: choices'),
    ('async_status_id', 'doc', _set('mode', 'choices', ['status', 'cleanup', 'full_cleanup', 'purge']),
     'mode: choices'),
    ('async_claim', 'doc', _drop('mode', 'choices'), 'mode: choices'),
    ('async_task', 'spec', _set('argv', 'elements', 'raw'), 'argv: elements'),
    ('async_task', 'doc', _drop('argv', 'elements'), 'argv: elements'),
    ('async_alias', 'doc', _set('alias', 'required', False), 'alias: required'),
    ('async_claim', 'spec', _set('jid', 'required', True), 'jid: required'),
    ('async_wait', 'spec', _set('jid', 'aliases', ['job_id']), 'jid: aliases'),
]


@pytest.mark.parametrize('name, side, change, named', DRIFTS)
def test_doc_differences_reports_a_drift(name, side, change, named):
    spec = copy.deepcopy(specs.SPECS[name].argument_spec)
    options = copy.deepcopy(module_documentation(name)['options'])
    change(spec if side == 'spec' else options)
    differences = doc_differences(spec, options)
    assert len(differences) == 1, differences
    assert differences[0].startswith(named), differences


@pytest.mark.parametrize('side, change', [
    ('doc', _drop('signal', 'type')),      # a documented option's type is str by default
    ('spec', _drop('signal', 'type')),     # so is a spec's
    ('doc', _set('jid', 'required', False)),
    ('spec', _set('alias', 'default', None)),
])
def test_doc_differences_implicit_values(side, change):
    spec = copy.deepcopy(specs.KILL_SPEC.argument_spec)
    options = copy.deepcopy(module_documentation('async_kill')['options'])
    change(spec if side == 'spec' else options)
    assert doc_differences(spec, options) == []


def test_doc_differences_ignores_private_options():
    spec = dict(specs.WAIT_SPEC.argument_spec, **specs.PRIVATE_ARGUMENT_SPEC)
    assert doc_differences(spec, module_documentation('async_wait')['options']) == []


@pytest.mark.parametrize('option_type, doc_value, spec_value, same', [
    ('float', 5, 5.0, True),
    ('float', 0, 0.0, True),
    ('float', 5, 5.5, False),
    ('float', '5', 5.0, False),
    ('float', None, 5.0, False),
    ('float', None, None, True),
    ('int', 5, 5, True),
    ('int', 5, 5.0, False),
    ('bool', False, False, True),
    ('bool', 0, False, False),
    ('bool', 'no', False, False),
    ('str', 'TERM', 'TERM', True),
    ('str', 'term', 'TERM', False),
])
def test_same_value(option_type, doc_value, spec_value, same):
    assert same_value(option_type, doc_value, spec_value) is same


# --- ArgumentSpec ---------------------------------------------------------------------------------

def test_validation_is_the_spec_and_its_constraints():
    spec = specs.ArgumentSpec(dict(a=dict(type='str'), b=dict(type='int')),
                              mutually_exclusive=[('a', 'b')], required_one_of=[('a', 'b')])
    assert spec.validation() == dict(argument_spec=dict(a=dict(type='str'), b=dict(type='int')),
                                     mutually_exclusive=[('a', 'b')], required_one_of=[('a', 'b')])
    assert specs.ArgumentSpec(dict(a=dict())).validation() == dict(argument_spec=dict(a=dict()))


def test_unknown_constraint_refused():
    with pytest.raises(ValueError) as exc:
        specs.ArgumentSpec(dict(a=dict()), mutually_exclusive=[], required_ones_of=[], bogus=1)
    assert str(exc.value) == 'unknown constraints: bogus, required_ones_of'


def test_specs_leave_the_private_options_out():
    """_async_dir and _failpoints are added by create_ansible_module on the host, never by
    the controller's validation (the action plugin sets them)."""
    for spec in specs.SPECS.values():
        for private in ('_async_dir', '_failpoints'):
            assert private not in spec.argument_spec
            assert private not in spec.validation()['argument_spec']
    assert specs.PRIVATE_ARGUMENT_SPEC == dict(_async_dir=dict(type='str'),
                                               _failpoints=dict(type='dict'))


def test_module_level_imports_only_the_job_model():
    """The controller loads it with no target-only code: at module level it imports only the
    job model (AnsibleModule is imported inside create_ansible_module)."""
    with open(specs.__file__) as f:
        tree = ast.parse(f.read())
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [n.module for n in imports] == [
        'ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model']


@pytest.mark.parametrize('name, params, errors', [
    ('async_status_id', dict(jid='j1.2'), []),
    ('async_status_id', dict(), ['one of the following is required: jid, alias, jobs']),
    ('async_status_id', dict(jid='j1.2', alias='x'),
     ['parameters are mutually exclusive: jid|alias|jobs']),
    ('async_status_id', dict(alias='x', mode='purge'),
     ["value of mode must be one of: status, cleanup, full_cleanup, got: purge"]),
    ('async_alias', dict(alias='x', jid='j1.2'), []),
    ('async_alias', dict(jid='j1.2'), ['missing required arguments: alias']),
    ('async_alias', dict(alias='x', job={}, jid='j1.2'), ['parameters are mutually exclusive: job|jid']),
    ('async_wait', dict(alias='x', timeout=3), []),
    ('async_wait', dict(alias='x', timeout=3, retries=2),
     ['parameters are mutually exclusive: timeout|retries']),
    ('async_kill', dict(alias='x', signal='INT', grace=1), []),
    ('async_kill', dict(signal='INT'), ['one of the following is required: jid, alias']),
    ('async_task', {'alias': 'x', 'async': 60, 'shell': 'sleep 1'}, []),
    ('async_task', {'alias': 'x', 'async': 60, 'shell': 'sleep 1', 'cmd': 'true'},
     ['parameters are mutually exclusive: shell|cmd|argv|script|module']),
    ('async_task', {'alias': 'x', 'async': 60, 'shell': 'true', 'module_args': {}},
     ['missing parameter(s) required by \'module_args\': module']),
    ('async_claim', dict(alias='x', token='t', mode='bind', jid='j1.2'), []),
    ('async_claim', dict(alias='x'), ['missing required arguments: token']),
])
def test_validation_on_the_controller(name, params, errors):
    """What the action plugins check with validate_argument_spec (ArgumentSpecValidator)."""
    result = ArgumentSpecValidator(**specs.SPECS[name].validation()).validate(params)
    assert [str(e) for e in result.errors] == errors
