# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/plugin_utils/_start.py: the start runner of async_task's one-step
start, and when the one-step start applies.

runner_sources and runner_source build the runner (the collection's module_utils,
compressed, with a loader and the arguments). The runner is run for real, as the host
runs it: a Python process started with -S (and here also -I: no PYTHONPATH, no site, no
user site), that reads its arguments from its own source and the async_wrapper command line
from the environment variable WRAPPER_ENV. Without that variable it fails with a message;
with the command line of ansible-core's real async_wrapper (unit_helpers.JobDir) it
starts the job, names it and waits for it; and it loads no module but the standard
library's and the collection's module_utils. one_step_supported is checked on action
instances whose class overrides, or not, what the one-step start hooks into.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import types
import zlib

import pytest

from ansible.plugins.action import ActionBase

from ansible_collections.asyncjobs.named.plugins.module_utils import _async_kill as killing
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_specs as specs
from ansible_collections.asyncjobs.named.plugins.plugin_utils import _start as start

from unit_helpers import JobDir, name_of

MODULE_UTILS = os.path.dirname(os.path.abspath(specs.__file__))
PACKAGE = 'ansible_collections.asyncjobs.named.plugins.module_utils'


def decode(sources):
    return json.loads(zlib.decompress(base64.b64decode(sources)).decode('utf-8'))


# --- runner_sources, runner_source ---------------------------------------------------------------

def _imports(source):
    return set(re.findall(r'^\s*from %s\.(_async_\w+) import' % re.escape(PACKAGE), source, re.M))


def test_runner_sources_are_the_module_utils_the_start_imports():
    sources = decode(start.runner_sources())
    names = set(n[len(PACKAGE) + 1:] for n in sources)
    # every module_utils file that _async_start imports, directly or not; nothing else
    assert '_async_start' in names and '_async_claims' in names and '_async_names' in names
    assert '_async_list' not in names and '_async_prune' not in names
    for name in names:
        assert _imports(sources['%s.%s' % (PACKAGE, name)]) <= names, name
        with open(os.path.join(MODULE_UTILS, name + '.py'), encoding='utf-8') as f:
            assert sources['%s.%s' % (PACKAGE, name)] == f.read()


@pytest.mark.parametrize('graph,expected', [
    ({'_async_start': 'x = 1\n'}, ['_async_start']),
    ({'_async_start': 'from %s._async_a import b\n' % PACKAGE,
      '_async_a': '    from %s._async_start import c\n' % PACKAGE,  # a cycle, indented
      '_async_z': 'y = 2\n'}, ['_async_a', '_async_start']),
])
def test_runner_closure(graph, expected):
    found = start.runner_closure(graph.__getitem__)
    assert sorted(found) == ['%s.%s' % (PACKAGE, n) for n in expected]


def test_runner_sources_read_once():
    assert start.runner_sources() is start.runner_sources()


def test_runner_source_carries_its_arguments():
    args = dict(alias='build', token='t0k', waiting=True, wait=15.0, _async_dir='~/.ansible_async',
                chmod=['/tmp/x y/AnsiballZ_job.py'])
    source = start.runner_source(args)
    compile(source, 'runner', 'exec')
    assert repr(json.dumps(args)) in source
    assert repr(start.runner_sources()) in source
    assert start.PACKAGE == PACKAGE


# --- the runner, run for real ----------------------------------------------------------------------

def run_runner(tmp_path, args, env, prelude=''):
    """Run the runner as the host does, with -S, and also -I (isolated: no PYTHONPATH, no
    site-packages, not even the user's): its stdout as JSON, and its stderr. ``prelude``
    (statements) runs before it, ``env`` is its whole environment."""
    path = tmp_path / 'runner.py'
    path.write_text(prelude + start.runner_source(args))
    # check=False: the return code is asserted below, with stderr
    proc = subprocess.run([sys.executable, '-S', '-I', str(path)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stdout, proc.stderr


def base_env():
    return dict((k, v) for k, v in os.environ.items() if k != specs.WRAPPER_ENV)


def test_runner_without_the_wrapper_command(tmp_path, async_dir):
    result, out, _err = run_runner(
        tmp_path, dict(alias='build', token='tokA', waiting=False, _async_dir=async_dir),
        base_env())
    assert out == ('{"failed": true, "msg": "the start runner needs the async_wrapper command '
                   'line in _ASYNCJOBS_NAMED_WRAPPER"}')
    assert result == dict(failed=True, msg='the start runner needs the async_wrapper command '
                                           'line in %s' % specs.WRAPPER_ENV)
    assert os.listdir(async_dir) == []


def test_runner_with_bad_arguments(tmp_path, async_dir):
    result, _out, _err = run_runner(
        tmp_path, dict(alias='no/slash', token='tokA', waiting=False, _async_dir=async_dir),
        dict(base_env(), **{specs.WRAPPER_ENV: 'true'}))
    assert result['failed'] is True
    assert result['msg'].startswith("invalid alias 'no/slash'")


def test_runner_reports_an_unexpected_error(tmp_path, async_dir):
    """A missing argument (a bug of the controller's side) is a failure with its traceback,
    not a crash of the runner."""
    result, _out, _err = run_runner(tmp_path, dict(alias='build', _async_dir=async_dir),
                                    dict(base_env(), **{specs.WRAPPER_ENV: 'true'}))
    assert result['failed'] is True
    assert result['msg'] == "KeyError: 'token'"
    assert 'Traceback (most recent call last)' in result['exception']


def test_runner_starts_names_and_waits_for_a_job(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir, seconds=0.2)
    os.chmod(job.module, 0o600)  # the runner does the chmod u+rwx Ansible would
    args = dict(alias='build', token='tokA', waiting=True, wait=15.0, cleanup=True,
                _async_dir=async_dir, tmpdir=job.tmpdir, remove_tmp=True, chmod=[job.module])
    result, _out, _err = run_runner(tmp_path, args, dict(base_env(), **{specs.WRAPPER_ENV: job.cmd}))
    jid = result['ansible_job_id']
    assert (result['action'], result['changed'], result['tmpdir_removed']) == ('start', True, False)
    assert jid.startswith(job.prefix + '.')
    assert result['reply']['ansible_job_id'] == jid
    status = result['status']
    assert (status['state'], status['stdout'], status['ansible_job_alias']) == (
        'succeeded', 'done', 'build')
    assert status['released'] == [os.path.join(async_dir, 'jid_build')]
    assert os.path.isfile(os.path.join(async_dir, jid))


def test_runner_starts_then_attaches(tmp_path, async_dir):
    """Without waiting: the job is started and named; the next runner attaches to it and
    removes the tmp dir made for the job it did not start."""
    first = JobDir(tmp_path, async_dir, seconds=30)
    args = dict(alias='build', token='tokA', waiting=False, _async_dir=async_dir)
    result, _out, _err = run_runner(tmp_path, args, dict(base_env(), **{specs.WRAPPER_ENV: first.cmd}))
    jid = result['ansible_job_id']
    try:
        assert (result['action'], result['status']['state']) == ('start', 'running')
        assert name_of(async_dir, 'build') == jid
        (tmp_path / 'again').mkdir()
        again = JobDir(tmp_path / 'again', async_dir)
        args = dict(args, token='tokB', tmpdir=again.tmpdir, remove_tmp=True)
        result, _out, _err = run_runner(tmp_path, args,
                                        dict(base_env(), **{specs.WRAPPER_ENV: again.cmd}))
        assert (result['action'], result['changed'], result['ansible_job_id']) == (
            'attach', False, jid)
        assert result['tmpdir_removed'] is True and not os.path.exists(again.tmpdir)
    finally:
        killing.kill(async_dir, jid, 'KILL', grace=0)


MODULES_REPORT = '''\
import atexit as _atexit, sys as _sys
def _report_modules():
    _sys.stderr.write('MODULES ' + ' '.join(sorted(_sys.modules)) + '\\n')
_atexit.register(_report_modules)
'''


def test_runner_loads_only_the_standard_library_and_module_utils(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir)
    args = dict(alias='build', token='tokA', waiting=True, wait=15.0, _async_dir=async_dir)
    result, _out, err = run_runner(tmp_path, args, dict(base_env(), **{specs.WRAPPER_ENV: job.cmd}),
                                   prelude=MODULES_REPORT)
    assert result['status']['state'] == 'succeeded'
    loaded = err.split('MODULES ', 1)[1].split()
    ours = [m for m in loaded if m.split('.')[0] == 'ansible_collections']
    others = [m for m in loaded if m.split('.')[0] != 'ansible_collections']
    assert PACKAGE + '._async_start' in ours
    # the collection's module_utils and their parent packages, nothing else of it
    assert all(m == PACKAGE or m.startswith(PACKAGE + '.') or PACKAGE.startswith(m + '.')
               for m in ours), ours
    assert [m for m in others if m.split('.')[0] not in sys.stdlib_module_names
            and m != '__main__'] == []


# --- one_step_supported ------------------------------------------------------------------------

class PlainAction(ActionBase):
    def run(self, tmp=None, task_vars=None):
        return {}


class OwnExecuteModule(PlainAction):
    def _execute_module(self, *args, **kwargs):
        return {}


class OwnLowLevelCommand(PlainAction):
    def _low_level_execute_command(self, *args, **kwargs):
        return {}


def action_of(cls, pipeline=False, windows=False):
    """An action instance of ``cls`` with a connection whose shell is ``windows`` and that
    always pipelines or not (no task is run: only what one_step_supported looks at)."""
    act = cls.__new__(cls)
    act._connection = types.SimpleNamespace(always_pipeline_modules=pipeline,
                                            _shell=types.SimpleNamespace(_IS_WINDOWS=windows))
    return act


@pytest.mark.parametrize('cls, pipeline, windows, supported', [
    (PlainAction, False, False, True),
    (OwnExecuteModule, False, False, False),    # e.g. Mitogen's
    (OwnLowLevelCommand, False, False, False),
    (PlainAction, True, False, False),
    (PlainAction, False, True, False),
])
def test_one_step_supported(cls, pipeline, windows, supported):
    assert start.one_step_supported(action_of(cls, pipeline, windows)) is supported


def test_one_step_supported_without_connection_attributes():
    act = PlainAction.__new__(PlainAction)
    act._connection = types.SimpleNamespace(_shell=types.SimpleNamespace())
    assert start.one_step_supported(act) is True


def test_a_start_without_wait_or_tails_compiles_no_output_or_mitogen_code(tmp_path, async_dir):
    # the runner compiles each module_utils it imports, on every start on every host
    job = JobDir(tmp_path, async_dir, seconds=60)  # still running when the runner reads it
    args = dict(alias='build', token='tokA', waiting=False, _async_dir=async_dir)
    result, _out, err = run_runner(tmp_path, args, dict(base_env(), **{specs.WRAPPER_ENV: job.cmd}),
                                   prelude=MODULES_REPORT)
    try:
        assert (result['action'], result['status']['state']) == ('start', 'running')
        loaded = set(err.split('MODULES ', 1)[1].split())
        assert PACKAGE + '._async_start' in loaded
        assert loaded.isdisjoint({PACKAGE + '._async_output', PACKAGE + '._async_mitogen'})
    finally:
        killing.kill(async_dir, result['ansible_job_id'], 'KILL', grace=0)
