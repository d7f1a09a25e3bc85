# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/module.py: run_module, the main of every
module.

run_module builds a real AnsibleModule from a real spec (_shared.specs.KILL_SPEC), fed the
way ansible-core's own unit tests feed modules: ``ansible.module_utils.basic._ANSIBLE_ARGS``
holds the JSON of ``{"ANSIBLE_MODULE_ARGS": {...}}``. The module exits (SystemExit) after
printing its result, read back from stdout. Covers a success (the params and check mode
the run function gets), a JobError (its message and keys, no traceback), an unexpected
exception ('Type: text' and its traceback in ``exception``), arguments the spec refuses,
and the warnings hoisted from the result and from each entry of its ``results``.
"""

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as ansible_warnings

from ansible_collections.asyncjobs.named.plugins.module_utils._host import module
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors, specs

try:
    from ansible.module_utils import _internal as ansible_internal
    from ansible.module_utils._internal import _traceback
except ImportError:  # ansible-core before 2.19
    ansible_internal = _traceback = None


@pytest.fixture
def run_module(monkeypatch, capsys):
    """run_module(args, run, spec=KILL_SPEC) -> (exit code, result): run_module with the
    module arguments ``args``, as ansible-core passes them (``_ANSIBLE_ARGS``)."""
    # ansible-core keeps the warnings of a process, and 2.19 the traceback setting read
    # from the first module's arguments, in globals: each run starts afresh.
    monkeypatch.setattr(ansible_warnings, '_global_warnings',
                        type(ansible_warnings._global_warnings)())
    if _traceback is not None:
        monkeypatch.setattr(_traceback, '_module_tracebacks_enabled_events', None, raising=False)
        # A module runs in a process of its own, without the controller's code: once a
        # test in this process has imported that (ansible.plugins, the plugin_utils tests),
        # 2.19 sends warnings to the controller's display and asks it about tracebacks.
        # Undo that for the module run, as it is on a host.
        monkeypatch.setattr(ansible_internal, 'is_controller', False)
        monkeypatch.setattr(_traceback, '_is_traceback_enabled',
                            _traceback._is_module_traceback_enabled)

    def run(args, fn, spec=specs.KILL_SPEC):
        monkeypatch.setattr(basic, '_ANSIBLE_ARGS',
                            json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode('utf-8'))
        monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)
        monkeypatch.setattr(basic, '_PARSED_MODULE_ARGS', None, raising=False)
        with pytest.raises(SystemExit) as exc:
            module.run_module(spec, fn)
        return exc.value.code, json.loads(capsys.readouterr().out)
    return run


def warning_messages(result):
    """The warnings of a module result: strings before ansible-core 2.19, summaries of an
    event (``{'event': {'msg': ...}}``) since."""
    return [w if isinstance(w, str) else w['event']['msg'] for w in result.get('warnings', [])]


class RunFunction:
    """A run function that records its calls and returns (a copy of) ``result``."""

    def __init__(self, result=None, error=None):
        self.result = result if result is not None else dict(changed=False)
        self.error = error
        self.calls = []

    def __call__(self, params, check_mode):
        self.calls.append((dict(params), check_mode))
        if self.error is not None:
            raise self.error
        return json.loads(json.dumps(self.result))


@pytest.mark.parametrize('check_mode', [False, True])
def test_success(run_module, check_mode):
    run = RunFunction(dict(changed=True, state='killed', pids=[12, 13]))
    code, result = run_module({'jid': 'j1.2', 'grace': 2, '_async_dir': '~/.ansible_async',
                               '_ansible_check_mode': check_mode}, run)
    assert code == 0
    assert (result['changed'], result['state'], result['pids']) == (True, 'killed', [12, 13])
    assert 'failed' not in result and 'msg' not in result
    assert 'warnings' not in result
    # the run function gets the params with the spec's defaults, the private _async_dir
    # and _failpoints (none switched on) included, and check mode
    assert run.calls == [(dict(jid='j1.2', alias=None, signal='TERM', grace=2.0,
                               _async_dir='~/.ansible_async', _failpoints=None), check_mode)]


def test_private_async_dir_is_optional_to_the_spec(run_module):
    """Not given, it is None: require_async_dir() is what refuses it, with its message."""
    run = RunFunction()
    code, _result = run_module({'alias': 'build'}, run)
    assert code == 0
    assert run.calls[0][0]['_async_dir'] is None


def test_job_error(run_module):
    run = RunFunction(error=errors.JobError('could not find job', ansible_job_id='j1.2',
                                            started=True, finished=True))
    code, result = run_module({'jid': 'j1.2'}, run)
    assert code == 1
    assert result['failed'] is True
    assert result['msg'] == 'could not find job'
    assert (result['ansible_job_id'], result['started'], result['finished']) == ('j1.2', True, True)
    assert 'exception' not in result  # a JobError is a message, never a traceback


def _broken(params, check_mode):
    return {}['no such key']


@pytest.mark.parametrize('tracebacks_for', [None, ['error']])
def test_unexpected_exception(run_module, tracebacks_for):
    """'Type: text' as the message, and the traceback in ``exception`` (ansible-core 2.19
    passes it on only when tracebacks are asked for, _ansible_tracebacks_for)."""
    args = {'jid': 'j1.2'}
    if tracebacks_for is not None:
        args['_ansible_tracebacks_for'] = tracebacks_for
    code, result = run_module(args, _broken)
    assert code == 1
    assert result['failed'] is True
    assert result['msg'] == "KeyError: 'no such key'"
    if tracebacks_for is not None or _traceback is None:
        tb = result['exception']
        assert tb.startswith('Traceback (most recent call last):\n')
        assert 'in _broken\n' in tb and "{}['no such key']" in tb
        assert tb.rstrip().endswith("KeyError: 'no such key'")


@pytest.mark.parametrize('args, msg', [
    ({'jid': 'j1.2', 'alias': 'build'}, 'parameters are mutually exclusive: jid|alias'),
    ({}, 'one of the following is required: jid, alias'),
    ({'jid': 'j1.2', 'grace': 'soon'}, "argument 'grace' is of type"),
    ({'jid': 'j1.2', 'bogus': 1}, 'Unsupported parameters for'),
])
def test_arguments_the_spec_refuses(run_module, args, msg):
    """The module fails before the run function is called."""
    run = RunFunction()
    code, result = run_module(args, run)
    assert code == 1 and result['failed'] is True
    assert msg in result['msg']
    assert run.calls == []


def test_warnings_hoisted(run_module):
    """The result's warnings, and those of each entry of ``results`` (named by its job),
    become the module's warnings, and are no longer in the result itself."""
    run = RunFunction(dict(changed=False, warnings=['first', 'second'], results=[
        dict(ansible_job_id='j1.2', state='running', warnings=['liveness unknown']),
        dict(ansible_job_id='j3.4', state='succeeded'),
        dict(ansible_job_id='j5.6', state='running', warnings=['a', 'b']),
    ]))
    code, result = run_module({'alias': 'build'}, run)
    assert code == 0
    assert warning_messages(result) == ['first', 'second', 'j1.2: liveness unknown', 'j5.6: a',
                                        'j5.6: b']
    assert result['results'] == [dict(ansible_job_id='j1.2', state='running'),
                                 dict(ansible_job_id='j3.4', state='succeeded'),
                                 dict(ansible_job_id='j5.6', state='running')]


# --- names freed only once the result has left the host ------------------------------------

@pytest.mark.parametrize('delivered', [True, False])
def test_names_are_freed_only_once_the_result_left_the_host(async_dir, delivered):
    """async_wait (a real module process, its arguments on stdin) frees a finished job's name
    after exit_json wrote the result, when stdout still takes it; with stdout closed (the
    connection dropped) the name stays for the next run."""
    import os
    import subprocess
    import sys
    from unit_helpers import make_link, name_of, write_job
    jid = 'j123456789012.4242'
    write_job(async_dir, jid, {'rc': 0, 'stdout': 'done', 'changed': True})
    make_link(async_dir, 'jid_build', jid)
    args = json.dumps({'ANSIBLE_MODULE_ARGS': {'alias': 'build', 'timeout': 5,
                                               '_async_dir': async_dir}}).encode()
    proc = subprocess.Popen(
        [sys.executable, '-m', 'ansible_collections.asyncjobs.named.plugins.modules.async_wait'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    if delivered:
        out, _err = proc.communicate(args, timeout=60)
        assert json.loads(out)['released'] == [os.path.join(async_dir, 'jid_build')]
    else:
        proc.stdout.close()
        proc.stdin.write(args)
        proc.stdin.close()
        proc.wait(60)
        proc.stderr.close()
    assert name_of(async_dir, 'build') == (None if delivered else jid)


@pytest.mark.parametrize('args, msg', [
    ({'alias': '../x'}, 'invalid alias \'../x\''),
    ({'jid': 'j1'}, 'invalid jid \'j1\''),
])
def test_names_are_checked_once_here_before_run(run_module, args, msg):
    """The one host-side check of a job name and id of every module: before its run."""
    run = RunFunction(dict(changed=False))
    code, result = run_module(dict(args, _async_dir='~/.ansible_async'), run)
    assert code == 1 and result['failed'] is True and result['msg'].startswith(msg)
    assert run.calls == []


def test_a_list_of_name_patterns_is_not_checked_as_a_name():
    assert module.checked_names(specs.JOBS_INFO_SPEC, {'alias': ['web-*']}) == {}
    assert module.checked_names(specs.KILL_SPEC, {'alias': 'x', 'jid': None}) == {'alias': 'x'}
