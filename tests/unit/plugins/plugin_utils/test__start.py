# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/plugin_utils/_start.py: the start runner of async_task's one-step
start, and when the one-step start applies.

runner_sources and runner_source build the runner (the collection's module_utils,
compressed, with a loader and the arguments). The runner is run for real, as the host
runs it: a Python process started with -S (and here also -I: no PYTHONPATH, no site, no
user site), that reads its arguments from its own source and the async_wrapper command line
from its arguments (on stdin with pipelining, else as its one command-line argument).
Without it the runner fails with a message; with the command line of ansible-core's real
async_wrapper (unit_helpers.JobDir) it
starts the job, names it and waits for it; and it loads no module but the standard
library's and the collection's module_utils. one_step_supported is checked on action
instances whose class overrides, or not, what the one-step start hooks into.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import types
import zlib

import pytest

from ansible.errors import AnsibleConnectionFailure
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.asyncjobs.named.plugins.module_utils._host import kill as killing
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import specs
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import START_HEADER
from ansible_collections.asyncjobs.named.plugins.plugin_utils import _start as start
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import split_header

from unit_helpers import JobDir, name_of

MODULE_UTILS = os.path.dirname(os.path.dirname(os.path.abspath(specs.__file__)))
PACKAGE = 'ansible_collections.asyncjobs.named.plugins.module_utils'


def decode(sources):
    return json.loads(zlib.decompress(base64.b64decode(sources)).decode('utf-8'))


# --- runner_sources, runner_source ---------------------------------------------------------------

def test_runner_sources_are_the_shared_and_host_packages_whole():
    sources = decode(start.runner_sources())
    expected = {}
    for package in ('_shared', '_host'):
        for name in os.listdir(os.path.join(MODULE_UTILS, package)):
            if name.endswith('.py'):
                full = '%s.%s' % (PACKAGE, package) if name == '__init__.py' else \
                    '%s.%s.%s' % (PACKAGE, package, name[:-3])
                with open(os.path.join(MODULE_UTILS, package, name), encoding='utf-8') as f:
                    expected[full] = [name == '__init__.py', f.read()]
    assert sources == expected
    assert PACKAGE + '._host.start' in sources and PACKAGE + '._shared.names' in sources


def test_package_sources(tmp_path):
    (tmp_path / '_shared').mkdir()
    (tmp_path / '_shared' / '__init__.py').write_text('"""pkg"""\n')
    (tmp_path / '_shared' / 'a.py').write_text('x = 1\n')
    (tmp_path / '_shared' / 'notes.txt').write_text('not python')
    assert start.package_sources(str(tmp_path), ('_shared',)) == {
        PACKAGE + '._shared': [True, '"""pkg"""\n'], PACKAGE + '._shared.a': [False, 'x = 1\n']}


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

def run_runner(tmp_path, args, env, prelude='', extra=None):
    """Run the runner as the host does, with -S, and also -I (isolated: no PYTHONPATH, no
    site-packages, not even the user's): its stdout as JSON, and its stderr. ``prelude``
    (statements) runs before it, ``env`` is its whole environment; ``extra`` (the arguments
    known only when the job starts) is its one argument, as without pipelining."""
    path = tmp_path / 'runner.py'
    path.write_text(prelude + start.runner_source(args))
    argv = [json.dumps(extra)] if extra is not None else []
    # check=False: the return code is asserted below, with stderr
    proc = subprocess.run([sys.executable, '-S', '-I', str(path)] + argv, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    # The start header comes first when a job was started or attached to, and names it.
    header, rest = split_header(proc.stdout, START_HEADER)
    result = json.loads(rest)
    if result.get('action') in ('start', 'attach'):
        assert header == dict(action=result['action'], ansible_job_id=result['ansible_job_id'])
    else:
        assert header is None
    return result, rest, proc.stderr


def base_env():
    return dict(os.environ)


def test_runner_without_the_wrapper_command(tmp_path, async_dir):
    result, out, _err = run_runner(
        tmp_path, dict(alias='build', token='tokA', waiting=False, _async_dir=async_dir),
        base_env())
    assert out == ('{"failed": true, "msg": "the start runner\'s missing required argument: '
                   'wrapper_cmd", "job_started": false}')
    assert result == dict(failed=True, job_started=False,
                          msg="the start runner's missing required argument: wrapper_cmd")
    assert os.listdir(async_dir) == []


def test_runner_with_bad_arguments(tmp_path, async_dir):
    result, _out, _err = run_runner(
        tmp_path, dict(alias='no/slash', token='tokA', waiting=False, _async_dir=async_dir,
                       wrapper_cmd='true'), base_env())
    assert result['failed'] is True
    assert result['msg'].startswith("invalid alias 'no/slash'")


def test_runner_read_from_stdin_in_one_go_whatever_the_locale(async_dir):
    """With pipelining the runner's source comes on stdin, read by RUNNER_BOOTSTRAP in one
    read (python - would read it one byte per system call) and decoded as UTF-8 under a C
    locale too."""
    source = start.runner_source(dict(alias='no/slash-\u00e9t\u00e9', token='tokA',
                                      waiting=False, _async_dir=async_dir, wrapper_cmd='true'))
    proc = subprocess.run([sys.executable, '-S', '-I', '-c', start.RUNNER_BOOTSTRAP],
                          input=source.encode('utf-8'), capture_output=True, timeout=60,
                          env=dict(base_env(), LC_ALL='C', LANG='C'), check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.decode('utf-8'))
    assert result['failed'] is True
    assert result['msg'].startswith("invalid alias 'no/slash-\u00e9t\u00e9'"), result


def test_runner_checks_its_arguments_against_its_spec(tmp_path, async_dir):
    """A missing or mistyped argument (a bug of the controller's side) is a clear failure:
    RUNNER_SPEC, checked on the host."""
    for args, msg in ((dict(alias='build', waiting=False), 'missing required argument: token'),
                      (dict(alias='build', token='t', waiting='no'),
                       "argument waiting must be of type bool, not str: 'no'"),
                      (dict(alias='build', token='t', waiting=False, bogus=1),
                       'unknown argument(s): bogus')):
        result, _out, _err = run_runner(tmp_path, dict(args, _async_dir=async_dir,
                                                       wrapper_cmd='true'), base_env())
        assert result == dict(failed=True, job_started=False,
                              msg="the start runner's %s" % msg)


def test_runner_reports_an_unexpected_error(tmp_path, async_dir):
    """An error that nothing expects is a failure with its traceback, not a crash of the
    runner: here a NUL byte in the task's environment, which no process can have."""
    result, _out, _err = run_runner(tmp_path, dict(alias='build', token='t', waiting=False,
                                                   _async_dir=async_dir,
                                                   wrapper_cmd="A='x\x00y' true"), base_env())
    assert result['failed'] is True
    assert result['msg'] == 'ValueError: embedded null byte'
    assert 'Traceback (most recent call last)' in result['exception']


def test_runner_starts_names_and_waits_for_a_job(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir, seconds=0.2)
    os.chmod(job.module, 0o600)  # the runner does the chmod u+rwx Ansible would
    args = dict(alias='build', token='tokA', waiting=True, wait=15.0, cleanup=True,
                _async_dir=async_dir, tmpdir=job.tmpdir, remove_tmp=True, chmod=[job.module])
    result, _out, _err = run_runner(tmp_path, args, base_env(), extra=dict(wrapper_cmd=job.cmd))
    jid = result['ansible_job_id']
    assert (result['action'], result['changed'], result['tmpdir_removed']) == ('start', True, False)
    assert result['job_started'] is True
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
    result, _out, _err = run_runner(tmp_path, dict(args, wrapper_cmd=first.cmd), base_env())
    jid = result['ansible_job_id']
    try:
        assert (result['action'], result['status']['state']) == ('start', 'running')
        assert name_of(async_dir, 'build') == jid
        (tmp_path / 'again').mkdir()
        again = JobDir(tmp_path / 'again', async_dir)
        args = dict(args, token='tokB', tmpdir=again.tmpdir, remove_tmp=True)
        result, _out, _err = run_runner(tmp_path, args, base_env(),
                                        extra=dict(wrapper_cmd=again.cmd, shell='/bin/sh'))
        assert (result['action'], result['changed'], result['ansible_job_id']) == (
            'attach', False, jid)
        assert result['job_started'] is False
        assert result['tmpdir_removed'] is True and not os.path.exists(again.tmpdir)
    finally:
        killing.kill(async_dir, jid, 'KILL', grace=0)


# The runner ends with os._exit (no teardown): the report is written just before.
MODULES_REPORT = '''\
import os as _os, sys as _sys
def _report_modules(code, _exit=_os._exit):
    _sys.stderr.write('MODULES ' + ' '.join(sorted(_sys.modules)) + '\\n')
    _sys.stderr.flush()
    _exit(code)
_os._exit = _report_modules
'''


def test_runner_loads_only_the_standard_library_and_module_utils(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir)
    args = dict(alias='build', token='tokA', waiting=True, wait=15.0, _async_dir=async_dir)
    result, _out, err = run_runner(tmp_path, dict(args, wrapper_cmd=job.cmd), base_env(),
                                   prelude=MODULES_REPORT)
    assert result['status']['state'] == 'succeeded'
    loaded = err.split('MODULES ', 1)[1].split()
    ours = [m for m in loaded if m.split('.')[0] == 'ansible_collections']
    others = [m for m in loaded if m.split('.')[0] != 'ansible_collections']
    assert PACKAGE + '._host.start' in ours
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
    result, _out, err = run_runner(tmp_path, dict(args, wrapper_cmd=job.cmd), base_env(),
                                   prelude=MODULES_REPORT)
    try:
        assert (result['action'], result['status']['state']) == ('start', 'running')
        loaded = set(err.split('MODULES ', 1)[1].split())
        assert PACKAGE + '._host.start' in loaded
        assert loaded.isdisjoint({PACKAGE + '._host.output', PACKAGE + '._host.mitogen'})
    finally:
        killing.kill(async_dir, result['ansible_job_id'], 'KILL', grace=0)


# --- the hooks: the wrapper command, its interpreter, the guard -------------------------------------

WRAPPER = '/home/u/.ansible/tmp/ansible-tmp-1-2-3/AnsiballZ_async_wrapper.py'
MODULE = '/home/u/.ansible/tmp/ansible-tmp-1-2-3/AnsiballZ_hello.sh'


@pytest.mark.parametrize('cmd,interpreter', [
    # 2.15-2.20: " ".join of the words, the environment first, the interpreter unquoted
    ("ANSIBLE_ASYNC_DIR='~/.ansible_async' /usr/bin/python3 %s j1 30 %s _" % (WRAPPER, MODULE),
     '/usr/bin/python3'),
    ("A='two words' B=1 /usr/bin/env python3 %s j1 30 /bin/bash %s /t/args" % (WRAPPER, MODULE),
     '/usr/bin/env python3'),
    # 2.21: shell.join of the words: the interpreter quoted as one word
    ("ANSIBLE_ASYNC_DIR='~/x' '/opt/py 3/bin/python' %s j1 30 false %s" % (WRAPPER, MODULE),
     "'/opt/py 3/bin/python'"),
    ("/usr/bin/python3 %s j1 30 %s _" % (WRAPPER, MODULE), '/usr/bin/python3'),
])
def test_wrapper_interpreter_is_the_wrappers_not_the_jobs(cmd, interpreter):
    assert start.read_wrapper_command(cmd, WRAPPER) == (interpreter, 'j1')


@pytest.mark.parametrize('cmd,why', [
    ('/usr/bin/python3 /elsewhere/async_wrapper.py j1 30 m _', '%s is not in it' % WRAPPER),
    ("A=1 %s j1 30 m _" % WRAPPER, 'no interpreter before %s' % WRAPPER),
    ("A='1 %s" % WRAPPER, 'No closing quotation'),
    ("/usr/bin/python3 %s" % WRAPPER, '%s is not in it' % WRAPPER),   # no prefix after it
])
def test_wrapper_interpreter_refuses(cmd, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        start.read_wrapper_command(cmd, WRAPPER)


class HookedAction:
    """What OneStepStart uses of an action, recording the commands that reach the
    connection (``ran``) and the files transferred (``sent``)."""

    def __init__(self, pipelining=True, executable='/bin/sh', allow_executable=True):
        self.ran, self.sent, self.removed = [], {}, []
        shell = types.SimpleNamespace(tmpdir='/home/u/.ansible/tmp/ansible-tmp-1-2-3',
                                      join_path=os.path.join, SHELL_FAMILY='sh')
        self._connection = types.SimpleNamespace(_shell=shell, allow_executable=allow_executable)
        self._play_context = types.SimpleNamespace(executable=executable)
        self.pipelining = pipelining

    def _is_become_unprivileged(self):
        return False

    def _is_pipelining_enabled(self, style):
        return self.pipelining

    def _should_remove_tmp_path(self, path):
        return True

    def _transfer_data(self, path, data):
        self.sent[path] = data

    def _remove_tmp_path(self, path, force=False):
        self.removed.append(path)

    def _fixup_perms2(self, paths, remote_user=None, execute=True):
        return paths

    def _low_level_execute_command(self, cmd, sudoable=True, in_data=None, **kwargs):
        self.ran.append((cmd, in_data))
        return dict(rc=0, stdout='{}', stderr='')

    def _remote_expand_user(self, path, sudoable=True):
        return path

    def get_shell_option(self, name, default=None):
        return default


def hooked(action):
    starter = start.OneStepStart(action, {}, dict(alias='build', token='tok', waiting=False,
                                                  _async_dir='~/.ansible_async'))
    starter._orig_fixup = action._fixup_perms2
    starter._orig_execute = action._low_level_execute_command
    starter._orig_expand = action._remote_expand_user
    return starter


BIG = 'x' * 75000
WRAPPER_CMD = ("BIG=%s ANSIBLE_ASYNC_DIR='~/.ansible_async' /usr/bin/python3 %s j42 30 "
               "/bin/bash %s /t/args" % (BIG, WRAPPER, MODULE))


def args_on_stdin(in_data):
    source = in_data.decode('utf-8')
    return json.loads(eval(re.search(r"^    args = json\.loads\((.*)\)$", source, re.M).group(1)))


def test_the_wrapper_command_travels_once_on_stdin_with_pipelining():
    action = HookedAction(pipelining=True, executable='/bin/bash')
    starter = hooked(action)
    starter._fixup_perms2([starter.action._connection._shell.tmpdir, MODULE, WRAPPER])
    starter._low_level_execute_command(WRAPPER_CMD, sudoable=True, in_data=None)
    [(cmd, in_data)] = action.ran
    # the wrapper's interpreter (not the job's /bin/bash), and nothing of the environment
    assert cmd == "/usr/bin/python3 -S -c 'import sys;exec(sys.stdin.buffer.read())'"
    args = args_on_stdin(in_data)
    assert (args['wrapper_cmd'], args['shell']) == (WRAPPER_CMD, '/bin/bash')
    assert in_data.decode('utf-8').count(BIG) == 1
    assert (starter.state, starter.prefix) == ('fired', 'j42')


def test_a_runner_that_did_not_report_names_what_may_run():
    action = HookedAction()
    starter = hooked(action)
    starter._fixup_perms2([starter.action._connection._shell.tmpdir, MODULE, WRAPPER])
    starter._low_level_execute_command(WRAPPER_CMD, True, None)
    got = starter.unreported(dict(failed=True, msg='MODULE FAILURE'))
    assert (got['job_started'], got['jid_prefix']) == (None, 'j42')
    assert got['msg'] == (
        "the start runner did not report (MODULE FAILURE) while the job named 'build' (job "
        "j42.* if it started) was being started. Whether it started cannot be told from here; "
        "the claim on the name records it, so running the task again attaches to it if it "
        "started, and starts it if it did not")
    starter.remove_unused_tmpdir(got)
    assert action.removed == []


def test_the_wrapper_command_is_the_runners_one_argument_without_pipelining():
    action = HookedAction(pipelining=False, allow_executable=False)
    starter = hooked(action)
    starter._fixup_perms2([starter.action._connection._shell.tmpdir, MODULE, WRAPPER])
    runner = os.path.join(starter.tmpdir, start.RUNNER_NAME)
    assert 'wrapper_cmd' not in action.sent[runner]
    starter._low_level_execute_command(WRAPPER_CMD, True, None)
    [(cmd, in_data)] = action.ran
    assert in_data is None
    words = shlex.split(cmd)
    assert words[:3] == ['/usr/bin/python3', '-S', runner]
    assert json.loads(words[3]) == dict(wrapper_cmd=WRAPPER_CMD, shell=None)
    assert cmd.count(BIG) == 1 and len(cmd) < len(WRAPPER_CMD) + 1000


@pytest.mark.parametrize('state,cmd', [
    ('idle', WRAPPER_CMD),            # core ran the wrapper without the permission hook
    ('fired', WRAPPER_CMD),           # a second wrapper command
    ('ready', 'rm -rf /somewhere'),   # another command where the wrapper was due
    ('ready', WRAPPER_CMD.replace(WRAPPER, '/other/async_wrapper.py')),  # not the one prepared
])
def test_the_hook_refuses_what_it_did_not_prepare(state, cmd):
    action = HookedAction()
    starter = hooked(action)
    if state != 'idle':
        starter._fixup_perms2([starter.action._connection._shell.tmpdir, MODULE, WRAPPER])
    starter.state = state
    with pytest.raises(AnsibleActionFail) as failed:
        starter._low_level_execute_command(cmd, True, None)
    assert action.ran == []
    assert 'it was not run, nothing was started, and running the task again starts the job' in str(
        failed.value)
    assert failed.value.result['job_started'] is False
    assert starter.state == 'refused'


def test_the_hook_passes_other_commands_before_and_after():
    action = HookedAction()
    starter = hooked(action)
    fixup = 'setfacl -m u:ajjob:r-x %s %s' % (MODULE, WRAPPER)  # names the wrapper, runs nothing
    starter._low_level_execute_command('mkdir -p /x', True, None)
    starter._low_level_execute_command(fixup, True, None)
    starter.state = 'fired'
    starter._low_level_execute_command('rm -rf /x', True, None)
    assert [c for c, _data in action.ran] == ['mkdir -p /x', fixup, 'rm -rf /x']


@pytest.mark.parametrize('result,removed', [
    (dict(action='attach', job_started=False), True),
    (dict(action='claimed', job_started=False, tmpdir_removed=True), False),
    (dict(action='start', job_started=True), False),
    (dict(failed=True, job_started=True, ansible_job_id='j1.2'), False),   # named failed
    (dict(failed=True, job_started=None), False),     # cannot be told
    (dict(failed=True, msg='MODULE FAILURE'), False),  # the runner died: fail closed
])
def test_the_tmp_dir_is_removed_only_when_nothing_was_started(result, removed):
    action = HookedAction()
    starter = hooked(action)
    starter._fixup_perms2([starter.action._connection._shell.tmpdir, MODULE, WRAPPER])
    starter.remove_unused_tmpdir(result)
    assert action.removed == ([starter.tmpdir] if removed else [])


# --- the start header: the job, known before the wait, for a lost connection ---------------

HEADER = '{"asyncjobs_named_start": {"action": "start", "ansible_job_id": "j42.7"}}\n'


@pytest.mark.parametrize('stdout, header, rest', [
    (HEADER + '{"action": "start"}', dict(action='start', ansible_job_id='j42.7'),
     '{"action": "start"}'),
    ('noise\n' + HEADER + '{}', dict(action='start', ansible_job_id='j42.7'), 'noise\n{}'),
    (HEADER.encode('utf-8'), dict(action='start', ansible_job_id='j42.7'), ''),
    ('{"action": "failed"}', None, '{"action": "failed"}'),
    ('{"asyncjobs_named_start": {}}\n{}', None, '{"asyncjobs_named_start": {}}\n{}'),  # empty
    ('{"asyncjobs_named_start": {"a": 1}, "b": 2}\n{}', None,
     '{"asyncjobs_named_start": {"a": 1}, "b": 2}\n{}'),   # more than the header
    ('{"asyncjobs_named_start": [1', None, '{"asyncjobs_named_start": [1'),  # cut short
    ('', None, ''),
])
def test_split_header(stdout, header, rest):
    got, left = split_header(stdout, START_HEADER)
    assert got == header
    if header is not None or isinstance(stdout, str):
        assert left == rest


class ConnectionAction(HookedAction):
    """A HookedAction whose connection has the ssh plugin's ``_bare_run`` (the client's
    (rc, stdout, stderr)), and whose command fails as ansible-core fails for the client's
    exit code 255, or returns what the client printed."""

    def __init__(self, stdout, rc=255, **kwargs):
        super().__init__(**kwargs)
        self.out = (rc, stdout.encode('utf-8'), b'')
        self._connection._bare_run = lambda *a, **k: self.out

    def _low_level_execute_command(self, cmd, sudoable=True, in_data=None, **kwargs):
        self.ran.append((cmd, in_data))
        rc, out, err = self._connection._bare_run(cmd, in_data)
        if rc == 255:
            raise AnsibleConnectionFailure('Failed to connect to the host via ssh: Connection '
                                           'to 127.0.0.1 closed by remote host.')
        return dict(rc=rc, stdout=out.decode('utf-8'), stderr='')


def fire(action, waiting=True):
    starter = hooked(action)
    starter.claim_args['waiting'] = waiting
    starter._fixup_perms2([starter.action._connection._shell.tmpdir, MODULE, WRAPPER])
    return starter


@pytest.mark.parametrize('action_taken, attached', [('start', False), ('attach', True)])
def test_a_connection_lost_during_the_first_slice_names_the_job(action_taken, attached):
    action = ConnectionAction(HEADER.replace('"start"', '"%s"' % action_taken))
    starter = fire(action)
    with pytest.raises(AnsibleConnectionFailure) as failure:
        starter._low_level_execute_command(WRAPPER_CMD, True, None)
    got = starter.lost(failure.value, 'db3')
    assert got['unreachable'] is True and 'failed' not in got
    assert (got['ansible_job_id'], got['ansible_job_alias'], got['attached']) == (
        'j42.7', 'build', attached)
    assert got.get('job_started') is (None if attached else True)
    assert got['msg'] == (
        "job j42.7 named 'build' %s and keeps running on the host, but the connection to db3 "
        "failed (Failed to connect to the host via ssh: Connection to 127.0.0.1 closed by "
        "remote host.) while this task waited for it. Running this task again attaches to it "
        "(or async_wait with alias=build waits for it)"
        % ('was attached to' if attached else 'was started'))
    assert action._connection._bare_run.__name__ == "<lambda>"  # the watch is gone
    starter.remove_unused_tmpdir(got)
    assert action.removed == []  # the job may need its tmp dir


def test_a_connection_lost_before_the_header_cannot_name_the_job():
    starter = fire(ConnectionAction(''))
    with pytest.raises(AnsibleConnectionFailure) as failure:
        starter._low_level_execute_command(WRAPPER_CMD, True, None)
    got = starter.lost(failure.value, 'db3')
    assert got['unreachable'] is True
    assert (got['ansible_job_id'], got['job_started'], got['jid_prefix']) == (None, None, 'j42')
    assert got['msg'].startswith("the connection to db3 failed (Failed to connect to the host "
                                 "via ssh: Connection to 127.0.0.1 closed by remote host.) while "
                                 "the job named 'build' (job j42.* if it started) was being "
                                 "started. Whether it started cannot be told from here")


def test_a_killed_ssh_client_leaves_the_header_the_result_lost():
    """The client killed (rc -9, no exception): the header came, the result did not;
    ansible-core's parser gets the output without the header."""
    action = ConnectionAction(HEADER, rc=-9)
    starter = fire(action)
    res = starter._low_level_execute_command(WRAPPER_CMD, True, None)
    assert res == dict(rc=-9, stdout='', stderr='')
    got = starter.unreported(dict(failed=True, rc=-9, _ansible_parsed=False, msg=(
        'Module result deserialization failed: No start of json char found')))
    assert got['failed'] is True
    assert (got['ansible_job_id'], got['attached'], got['job_started']) == ('j42.7', False, True)
    assert got['msg'] == (
        "job j42.7 named 'build' was started and keeps running on the host, but its result was "
        "lost (Module result deserialization failed: No start of json char found; rc -9) while "
        "this task waited for it. Running this task again attaches to it (or async_wait with "
        "alias=build waits for it)")


def test_the_connection_watch_is_removed():
    action = ConnectionAction(HEADER, rc=0)
    original = action._connection._bare_run
    starter = fire(action)
    starter._low_level_execute_command(WRAPPER_CMD, True, None)
    assert action._connection._bare_run is original


# --- with pipelining: the job's files travel with the runner -------------------------------------

class StagingAction(HookedAction):
    """HookedAction whose tmp dir ansible-core has yet to make (``_make_tmp_path``)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._connection._shell.tmpdir = None
        self._cleanup_remote_tmp = False

    def _make_tmp_path(self, remote_user=None):
        self.ran.append(('mkdir', None))
        self._connection._shell.tmpdir = '/home/u/.ansible/tmp/ansible-tmp-1-2-3'
        return self._connection._shell.tmpdir

    def _transfer_file(self, local, path):
        self.sent[path] = local

    def get_shell_option(self, name, default=None):
        return dict(remote_tmp='~/.ansible/tmp', system_tmpdirs=['/var/tmp', '/tmp']).get(
            name, default)


def staging(action):
    starter = hooked(action)
    starter._orig_make_tmp = action._make_tmp_path
    starter._orig_transfer_data = action._transfer_data
    starter._orig_transfer_file = action._transfer_file
    return starter


def test_a_staged_start_is_one_command_with_the_files_on_its_stdin(tmp_path):
    action = StagingAction(pipelining=True)
    starter = staging(action)
    tmpdir = starter._make_tmp_path()
    assert tmpdir.startswith(specs.STAGED_TMP_ROOT + '/ansible-tmp-')
    assert action._cleanup_remote_tmp is True  # async_wrapper removes it when the job ends
    module, wrapper = tmpdir + '/AnsiballZ_command.py', tmpdir + '/async_wrapper.py'
    script = tmp_path / 'run.sh'
    script.write_bytes(b'#!/bin/sh\necho hi\n')
    starter._transfer_data(module, 'ARGS = %r' % ('{"script": "%s/run.sh"}' % tmpdir))
    starter._transfer_data(wrapper, b'wrapper bytes')
    starter._transfer_file(str(script), tmpdir + '/run.sh')
    assert starter._fixup_perms2([tmpdir, module, wrapper]) == [tmpdir, module, wrapper]
    cmd = "ANSIBLE_ASYNC_DIR='~/.ansible_async' /usr/bin/python3 %s j42 30 %s _" % (wrapper, module)
    starter._low_level_execute_command(cmd, True, None)
    # nothing made, transferred or fixed up: one command, the runner
    assert action.sent == {} and [c for c, _d in action.ran] == [
        "/usr/bin/python3 -S -c 'import sys;exec(sys.stdin.buffer.read())'"]
    args = args_on_stdin(action.ran[0][1])
    stage = args['stage']
    assert stage['name'] == tmpdir.rsplit('/', 1)[1]
    assert stage['bases'] == ['~/.ansible/tmp', '/var/tmp', '/tmp']
    files = dict((k, zlib.decompress(base64.b64decode(v))) for k, v in stage['files'].items())
    assert files == {'AnsiballZ_command.py': ('ARGS = %r' % ('{"script": "%s/run.sh"}' % tmpdir))
                     .encode(), 'async_wrapper.py': b'wrapper bytes',
                     'run.sh': b'#!/bin/sh\necho hi\n'}
    assert (args['tmpdir'], args['chmod'], args['remove_tmp']) == (None, [], False)
    assert args['wrapper_cmd'] == cmd
    # nothing on the host for the controller to remove, whatever the runner says
    starter.remove_unused_tmpdir(dict(action='attach', job_started=False))
    assert action.removed == []


@pytest.mark.parametrize('path', ['sub/x', ''])
def test_a_staged_start_refuses_a_file_it_cannot_send(path):
    action = StagingAction(pipelining=True)
    starter = staging(action)
    tmpdir = starter._make_tmp_path()
    with pytest.raises(AnsibleActionFail) as failed:
        starter._transfer_data('%s/%s' % (tmpdir, path), b'x')
    assert 'which the one-step start cannot send with the job' in str(failed.value)
    assert failed.value.result['job_started'] is False and action.ran == []


def test_a_staged_start_refuses_to_fix_up_a_path_outside_its_dir():
    action = StagingAction(pipelining=True)
    starter = staging(action)
    tmpdir = starter._make_tmp_path()
    with pytest.raises(AnsibleActionFail) as failed:
        starter._fixup_perms2([tmpdir, '/etc/passwd'])
    assert 'outside the staged tmp dir' in str(failed.value) and action.ran == []


def test_without_pipelining_ansible_core_makes_the_tmp_dir():
    action = StagingAction(pipelining=False)
    starter = staging(action)
    assert starter._make_tmp_path() == '/home/u/.ansible/tmp/ansible-tmp-1-2-3'
    assert action.ran == [('mkdir', None)]
    starter._transfer_data('/home/u/.ansible/tmp/ansible-tmp-1-2-3/x', b'y')
    assert list(action.sent) == ['/home/u/.ansible/tmp/ansible-tmp-1-2-3/x']
