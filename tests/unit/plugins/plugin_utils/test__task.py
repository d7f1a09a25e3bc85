# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/plugin_utils/_task.py: the pure parts of async_task's action.

Table-driven tests of option_error (the options that cannot run), module_call (the job's
module and arguments for each form: shell, cmd, argv, script with and without an
interpreter, module; and every option of the command forms), start_failure (what a start
returned), check_mode_result (attach, start, claimed) and task_result. The options are
given as the action gets them once validated: every option of TASK_SPEC, with its default.
"""

from __future__ import annotations

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import specs
from ansible_collections.asyncjobs.named.plugins.plugin_utils import (
    _action as action, _task as task)

from unit_helpers import module_params


def task_args(**given):
    """async_task's options after validation: the defaults of TASK_SPEC, then ``given``
    (``async_`` for ``async``)."""
    args = module_params(specs.TASK_SPEC, alias='build', **{'async': 60})
    del args['_async_dir']
    if 'async_' in given:
        given['async'] = given.pop('async_')
    args.update(given)
    return args


def native(value):
    """started/finished as native async_status gives them on this ansible-core."""
    return bool(value) if action.BOOL_STATES else int(value)


# --- option_error -------------------------------------------------------------------------------

ONLY = 'only to shell, cmd, argv and script; give a module its options in module_args'


@pytest.mark.parametrize('given, error', [
    (dict(shell='sleep 1'), None),
    (dict(cmd='sleep 1', chdir='/tmp', creates='/x', removes='/y', stdin='a'), None),
    (dict(async_=1, argv=['sleep', '1']), None),
    (dict(async_=0, shell='true'), "async must be a positive number of seconds (the job's time "
                                   "limit), not 0"),
    (dict(async_=-5, shell='true'), "async must be a positive number of seconds (the job's time "
                                    "limit), not -5"),
    # async first, whatever else is wrong
    (dict(async_=0, module='ansible.builtin.ping', chdir='/tmp'),
     "async must be a positive number of seconds (the job's time limit), not 0"),
    (dict(module='ansible.builtin.ping'), None),
    (dict(module='ansible.builtin.ping', module_args=dict(data='x')), None),
    # the two with defaults are never in the way
    (dict(module='ansible.builtin.ping', stdin_add_newline=False, strip_empty_ends=False), None),
    (dict(module='ansible.builtin.ping', chdir='/tmp'), 'chdir applies ' + ONLY),
    (dict(module='ansible.builtin.ping', stdin=''), 'stdin applies ' + ONLY),
    (dict(module='ansible.builtin.ping', creates='/x', chdir='/tmp'), 'chdir, creates apply ' + ONLY),
    (dict(module='x.y.z', removes='/r', executable='/bin/bash', stdin='in', creates='/c',
          chdir='/d'), 'chdir, executable, creates, removes, stdin apply ' + ONLY),
    (dict(module='ansible.builtin.ping', output_limit='1M'), 'output_limit applies ' + ONLY),
    # tail_lines and output_limit
    (dict(shell='true', tail_lines=0), None),
    (dict(shell='true', tail_lines=-1), 'tail_lines must be 0 or more, not -1'),
    (dict(shell='true', output_limit='4k'), None),
    (dict(shell='true', output_limit='100MB'), None),
    (dict(shell='true', output_limit='4095'),
     "output_limit must be at least 4096 bytes (4k), not '4095'"),
    (dict(shell='true', output_limit='7x'),
     "output_limit must be a size, bytes or a number with a unit (100MB, 1.5G, 512k), not '7x'"),
    (dict(shell='true', output_limit=''),
     "output_limit must be a size, bytes or a number with a unit (100MB, 1.5G, 512k), not ''"),
    (dict(shell='true', output_limit='-1'),
     "output_limit must be a size, bytes or a number with a unit (100MB, 1.5G, 512k), not '-1'"),
])
def test_option_error(given, error):
    assert task.option_error(task_args(**given)) == error


# --- module_call ---------------------------------------------------------------------------------

DEFAULTS = dict(stdin_add_newline=True, strip_empty_ends=True)
SCRIPT = ['/home/u/.ansible/tmp/ansible-tmp-1.2-3/build.sh', '--fast', 'a b']


@pytest.mark.parametrize('given, script_argv, margs', [
    # shell: the command line, run by the shell
    (dict(shell='echo hi | wc'), None, dict(DEFAULTS, _raw_params='echo hi | wc', _uses_shell=True)),
    (dict(shell='echo $0', executable='/bin/bash'), None,
     dict(DEFAULTS, _raw_params='echo $0', _uses_shell=True, executable='/bin/bash')),
    # cmd: the command line, without a shell
    (dict(cmd='ls -l /tmp'), None, dict(DEFAULTS, _raw_params='ls -l /tmp')),
    # argv: the arguments as they are
    (dict(argv=['ls', '-l', 'a b']), None, dict(DEFAULTS, argv=['ls', '-l', 'a b'])),
    # script: its command line on the host; with executable, the interpreter in front
    (dict(script='build.sh --fast "a b"'), SCRIPT, dict(DEFAULTS, argv=SCRIPT)),
    (dict(script='build.sh --fast "a b"', executable='/usr/bin/bash'), SCRIPT,
     dict(DEFAULTS, argv=['/usr/bin/bash'] + SCRIPT)),
    # every option of the command forms
    (dict(cmd='make', chdir='/src', creates='/src/out', removes='/src/in', stdin='yes',
          stdin_add_newline=False, strip_empty_ends=False), None,
     dict(_raw_params='make', chdir='/src', creates='/src/out', removes='/src/in', stdin='yes',
          stdin_add_newline=False, strip_empty_ends=False)),
    (dict(argv=['cat'], stdin='', executable='/bin/sh'), None,
     dict(DEFAULTS, argv=['cat'], stdin='', executable='/bin/sh')),
    (dict(script='run.py', chdir='/w', creates='/w/done'), ['/t/run.py'],
     dict(DEFAULTS, argv=['/t/run.py'], chdir='/w', creates='/w/done')),
], ids=['shell', 'shell-executable', 'cmd', 'argv', 'script', 'script-executable',
        'cmd-every-option', 'argv-stdin-executable', 'script-options'])
def test_module_call_command_forms(given, script_argv, margs):
    # without an output log: ansible.builtin.command itself
    assert task.module_call(task_args(**given), script_argv=script_argv) == (
        'ansible.legacy.command', margs)
    # with one: async_command, the same with the log
    assert task.module_call(task_args(**given), script_argv=script_argv, output_log='.l') == (
        'asyncjobs.named.async_command', dict(margs, _output_log='.l'))


LOG = '~/.ansible_async/.output-0123abcd.log'


@pytest.mark.parametrize('given, extra', [
    (dict(shell='make'), dict(_raw_params='make', _uses_shell=True, _output_log=LOG)),
    (dict(argv=['make'], output_limit='1M'),
     dict(argv=['make'], _output_log=LOG, _output_limit=1024 * 1024)),
    (dict(cmd='make', output_limit='4096'),
     dict(_raw_params='make', _output_log=LOG, _output_limit=4096)),
], ids=['shell', 'argv-limit', 'cmd-limit-bytes'])
def test_module_call_output_log(given, extra):
    assert task.module_call(task_args(**given), output_log=LOG) == (
        'asyncjobs.named.async_command', dict(DEFAULTS, **extra))


def test_module_call_module_form_has_no_log():
    name, margs = task.module_call(task_args(module='ping'), module='ansible.builtin.ping',
                                   output_log=LOG)
    assert (name, margs) == ('ansible.builtin.ping', {})


@pytest.mark.parametrize('given, no_log, mitogen, logged', [
    (dict(shell='x'), False, False, True),
    (dict(cmd='x'), False, False, True),
    (dict(argv=['x']), False, False, True),
    (dict(script='x.sh'), False, False, True),
    (dict(shell='x'), True, False, False),
    (dict(shell='x'), False, True, False),
    (dict(module='ping'), False, False, False),
])
def test_output_log_of(given, no_log, mitogen, logged):
    assert task.output_log_of(task_args(**given), no_log, mitogen=mitogen) is logged


@pytest.mark.parametrize('text, limit', [
    ('4096', 4096), ('4k', 4096), ('512K', 512 * 1024), ('100MB', 100 * 1024 * 1024),
    ('1.5G', int(1.5 * 1024 ** 3)), (' 10 MB ', 10 * 1024 * 1024), (8192, 8192),
])
def test_output_limit_bytes(text, limit):
    assert task.output_limit_bytes(text) == limit


@pytest.mark.parametrize('text', ['', '7x', '-1', '0', '4095', 'lots', None])
def test_output_limit_bytes_refuses(text):
    with pytest.raises(ValueError, match='^output_limit must be'):
        task.output_limit_bytes(text)


@pytest.mark.parametrize('module_args, margs', [
    (dict(data='pong', nested=dict(a=[1, 2])), dict(data='pong', nested=dict(a=[1, 2]))),
    ({}, {}),
    (None, {}),
])
def test_module_call_module_form(module_args, margs):
    args = task_args(module='ping', module_args=module_args)
    name, got = task.module_call(args, module='ansible.builtin.ping')
    assert (name, got) == ('ansible.builtin.ping', margs)
    if module_args is not None:
        assert got is not module_args  # a copy: the job's args are not the task's


def test_module_call_copies_argv():
    args = task_args(argv=['ls'])
    _name, margs = task.module_call(args)
    margs['argv'].append('-l')
    assert args['argv'] == ['ls']


# --- start_failure -------------------------------------------------------------------------------

@pytest.mark.parametrize('found, failure', [
    (dict(action='start', ansible_job_id='j1.2', status={}), None),
    (dict(action='attach', ansible_job_id='j1.2', status={}), None),
    (dict(action='claimed', status=None), None),
    # async_wrapper refused the job: its reply is the result, and nothing was started
    (dict(action='failed', reply=dict(failed=True, msg='could not create directory', rc=1),
          status=None), dict(failed=True, msg='could not create directory', rc=1,
                             job_started=False)),
    (dict(action='failed', reply=dict(msg='no failed key'), status=None),
     dict(failed=True, msg='no failed key', job_started=False)),
    (dict(action='failed', reply=None, status=None), dict(failed=True, job_started=False)),
    # the runner or async_claim failed: what became of the job, none of the runner's keys
    (dict(failed=True, msg='KeyError: x', exception='Traceback...'),
     dict(failed=True, msg='KeyError: x', exception='Traceback...')),
    (dict(failed=True, msg='naming failed', job_started=True, ansible_job_id='j1.2',
          ansible_job_alias='x', tmpdir_removed=False, attached=False),
     dict(failed=True, msg='naming failed', job_started=True, ansible_job_id='j1.2',
          attached=False)),
    # a start whose result was lost after it attached (its header named the job)
    (dict(failed=True, msg='lost', ansible_job_id='j1.2', attached=True, rc=-9),
     dict(failed=True, msg='lost', ansible_job_id='j1.2', attached=True)),
    # the job policy on_running=fail
    (dict(action='refused', msg='job j1.2 named x is running', ansible_job_id='j1.2',
          status=dict(state='running')),
     dict(failed=True, msg='job j1.2 named x is running', job_started=False,
          ansible_job_id='j1.2', state='running')),
    (dict(failed=True, msg='did not report', job_started=None, jid_prefix='j1'),
     dict(failed=True, msg='did not report', job_started=None, jid_prefix='j1')),
    (dict(action='start', failed=True, msg='lost'), dict(failed=True, msg='lost')),
    (dict(failed=True), dict(failed=True, msg='the job could not be started')),
    (dict(action='bogus'), dict(failed=True, msg='the job could not be started')),
    ({}, dict(failed=True, msg='the job could not be started')),
])
def test_start_failure(found, failure):
    assert task.start_failure(found) == failure


# --- check_mode_result ---------------------------------------------------------------------------

RUNNING = dict(state='running', started=True, finished=False, killed=False, pid_missing=False,
               results_file='/h/.ansible_async/j1.2', ansible_job_id='j1.2')
KILLED = dict(state='killed', started=True, finished=True, killed=True, pid_missing=False,
              results_file='/h/.ansible_async/j9.9', ansible_job_id='j9.9')
ABSENT = dict(state='absent', started=False, finished=False, killed=False, pid_missing=False,
              results_file=None, ansible_job_id=None)


@pytest.mark.parametrize('found, expected', [
    (dict(action='attach', ansible_job_id='j1.2', status=RUNNING),
     dict(ansible_job_id='j1.2', changed=False, attached=True, msg="would attach to job j1.2 "
          "named 'build'", state='running', started=True, finished=False, killed=False,
          pid_missing=False, results_file='/h/.ansible_async/j1.2')),
    (dict(action='attach', ansible_job_id='j1.2', recovered_claim=True, status=dict(
        RUNNING, state='orphaned', finished=True, pid_missing=True)),
     dict(ansible_job_id='j1.2', changed=False, attached=True, msg="would attach to job j1.2 "
          "named 'build'", state='orphaned', started=True, finished=True, killed=False,
          pid_missing=True, results_file='/h/.ansible_async/j1.2')),
    (dict(action='start', status=ABSENT),
     dict(ansible_job_id=None, changed=True, attached=False, msg="would start a new job named "
          "'build'", state='absent', started=False, finished=False, killed=False,
          pid_missing=False, results_file=None)),
    (dict(action='start', status=KILLED),
     dict(ansible_job_id=None, changed=True, attached=False, msg="would start a new job named "
          "'build'", state='killed', started=True, finished=True, killed=True, pid_missing=False,
          results_file='/h/.ansible_async/j9.9')),
    (dict(action='claimed', status=None, claim_age=3.0),
     dict(ansible_job_id=None, changed=False, attached=True, msg="another run is starting the "
          "job named 'build'; would attach to it", state=None, started=False, finished=False,
          killed=False, pid_missing=False, results_file=None)),
], ids=['attach', 'attach-recovered', 'start', 'start-after-killed', 'claimed'])
def test_check_mode_result(found, expected):
    result = task.check_mode_result(found, 'build')
    expected = dict(expected, ansible_job_alias='build', stdout='', stderr='', stdout_lines=[],
                    stderr_lines=[], started=native(expected['started']),
                    finished=native(expected['finished']))
    assert result == expected
    assert type(result['started']) is type(native(True))


# --- task_result ---------------------------------------------------------------------------------

@pytest.mark.parametrize('job, attached, extra, expected', [
    (dict(state='succeeded', rc=0, changed=True), False, {},
     dict(own=1, state='succeeded', rc=0, changed=True, ansible_job_alias='build', attached=False)),
    # the task's keys win over the job's
    (dict(state='running', ansible_job_alias='old', attached='x'), True, dict(changed=False),
     dict(own=1, state='running', ansible_job_alias='build', attached=True, changed=False)),
    # the job's win over the action's own
    (dict(own=2, failed=True, msg='boom'), False, {},
     dict(own=2, failed=True, msg='boom', ansible_job_alias='build', attached=False)),
])
def test_task_result(job, attached, extra, expected):
    own = dict(own=1)
    result = task.task_result(own, job, 'build', attached, **extra)
    assert result is own  # the action's result, updated
    assert result == expected


# --- compat_warning / job_task_result (the async_extra role's ``warning``) ------------------------

RELEASED = ['/x/jid_build']


@pytest.mark.parametrize('result, expected', [
    # a job that finished failed: the first sentence the role's playbooks check, then the name
    (dict(failed=True, state='failed', released=RELEASED), task.JOB_FAILED + ' ' + task.NAME_RELEASED),
    (dict(failed=True, state='timed_out', msg='Timeout exceeded', released=RELEASED),
     task.JOB_FAILED + ' ' + task.NAME_RELEASED),
    (dict(failed=True, state='killed', released=[]), task.JOB_FAILED + ' ' + task.NAME_KEPT),
    (dict(failed=True, state='orphaned'), task.JOB_FAILED + ' ' + task.NAME_KEPT),
    # the wait budget spent: the job runs on
    (dict(failed=True, state='running', msg='Ran out of attempts.'), task.STILL_RUNNING),
    # no warning: not failed, or no job state (a start that failed, bad input)
    (dict(failed=False, state='failed'), None),
    (dict(state='succeeded'), None),
    (dict(failed=True, state='succeeded'), None),
    (dict(failed=True, msg='the job could not be started'), None),
])
def test_compat_warning(result, expected):
    assert task.compat_warning(result) == expected


def test_job_failed_is_the_role_checked_sentence():
    """The async_extra role's own test checks ``"The job has failed." in result.warning``."""
    assert task.JOB_FAILED == 'The job has failed.'
    for state in ('failed', 'timed_out', 'killed', 'orphaned'):
        assert 'The job has failed.' in task.compat_warning(dict(failed=True, state=state))


def test_job_task_result_adds_the_warning_only_on_failure():
    failed = task.job_task_result(dict(own=1), dict(failed=True, state='failed', released=RELEASED),
                                  'build', False)
    assert failed['warning'].startswith('The job has failed. ')
    assert failed['ansible_job_alias'] == 'build' and failed['attached'] is False
    ok = task.job_task_result(dict(own=1), dict(state='succeeded'), 'build', True)
    assert 'warning' not in ok


# --- describe_job ------------------------------------------------------------------------------

@pytest.mark.parametrize('given, module, shown, hidden', [
    (dict(shell='echo hunter2 | tee x'), None, 'shell: echo hunter2 | tee x',
     'shell: (hidden: no_log)'),
    (dict(cmd='/bin/deploy --token hunter2'), None, 'command: /bin/deploy --token hunter2',
     'command: (hidden: no_log)'),
    (dict(argv=['/bin/deploy', 'a b', 'hunter2']), None, "command: /bin/deploy 'a b' hunter2",
     'command: (hidden: no_log)'),
    (dict(script='migrate.sh hunter2'), None, 'script: migrate.sh hunter2',
     'script: (hidden: no_log)'),
    (dict(module='ping', module_args={'data': 'hunter2'}), 'ansible.builtin.ping',
     'module: ansible.builtin.ping', 'module: (hidden: no_log)'),
])
def test_describe_job_hides_everything_of_a_no_log_task(given, module, shown, hidden):
    args = task_args(**given)
    assert task.describe_job(args, module) == shown
    assert task.describe_job(args, module, no_log=True) == hidden
    assert 'hunter2' not in hidden


# --- fork batches -------------------------------------------------------------------------------

@pytest.mark.parametrize('hosts, forks, throttle, batches', [
    (30, 10, 0, 3),
    (31, 10, 0, 4),
    (10, 10, 0, 1),
    (3, 10, 0, 1),
    (5, 2, 0, 3),
    (5, 5, 2, 3),     # throttle smaller than forks: it wins
    (5, 2, 4, 3),     # forks smaller than throttle: they win
    (5, 2, None, 3),
    (1, 1, 0, 1),
    (0, 5, 0, 1),
])
def test_fork_batches(hosts, forks, throttle, batches):
    assert task.fork_batches(hosts, forks, throttle) == batches


HOSTS5 = ['h1', 'h2', 'h3', 'h4', 'h5']


@pytest.mark.parametrize('play_hosts, forks, throttle, host, expected', [
    (['h%d' % i for i in range(1, 31)], 10, 0, 'h1', '30 hosts with forks 10 run in 3 batches'),
    (HOSTS5, 2, 0, 'h1', '5 hosts with forks 2 run in 3 batches'),
    (HOSTS5, 5, 2, 'h1', '5 hosts with throttle 2 (forks 5) run in 3 batches'),
    (HOSTS5, 2, 4, 'h1', '5 hosts with forks 2 run in 3 batches'),
    (HOSTS5, 5, 1, 'h1', '5 hosts with throttle 1 (forks 5) run in 5 batches'),
    # only the first host of the play batch says it
    (HOSTS5, 2, 0, 'h2', None),
    (HOSTS5, 2, 0, 'h5', None),
    (HOSTS5, 2, 0, 'other', None),
    # one batch: nothing to say
    (HOSTS5, 5, 0, 'h1', None),
    (HOSTS5, 10, 0, 'h1', None),
    (HOSTS5, 5, 5, 'h1', None),
    (['h1'], 1, 0, 'h1', None),
    # unknown forks or hosts
    (HOSTS5, None, 0, 'h1', None),
    (HOSTS5, 0, 0, 'h1', None),
    ([], 2, 0, 'h1', None),
    (None, 2, 0, 'h1', None),
])
def test_fork_batch_warning(play_hosts, forks, throttle, host, expected):
    text = task.fork_batch_warning(play_hosts, forks, throttle, host)
    if expected is None:
        assert text is None
        return
    assert ('async_task waits on each host in its fork: %s, one after the other' % expected
            in text)
    # the two-task form and the option that silences it
    assert 'without a wait budget' in text and 'asyncjobs.named.async_wait' in text
    assert 'fork_batches_warning: false' in text
    # the same text on every host: it names none
    assert host not in text


def test_fork_batch_warning_names_the_task():
    text = task.fork_batch_warning(HOSTS5, 2, 0, 'h1', task_name='Migrate')
    assert text.startswith("async_task 'Migrate' waits on each host in its fork: 5 hosts with "
                           "forks 2 run in 3 batches, one after the other, so the task lasts "
                           "about 3 times the job.")


class FakeTask:
    def __init__(self, uuid='t1', check_mode=False, run_once=False, throttle=0):
        self._uuid, self.check_mode, self.run_once, self.throttle = (
            uuid, check_mode, run_once, throttle)

    def get_name(self):
        return 'Migrate'


FLEET_VARS = dict(ansible_play_batch=HOSTS5, inventory_hostname='h1')


@pytest.fixture
def warned(monkeypatch):
    """The warnings warn_fork_batches displays, with forks 2 and a fresh process state."""
    shown = []
    monkeypatch.setattr(task.context, 'CLIARGS', dict(forks=2))
    monkeypatch.setattr(task.display, 'warning', shown.append)
    monkeypatch.setattr(task, '_WARNED', set())
    return shown


@pytest.mark.parametrize('given, task_kw, host, shown', [
    (dict(timeout=30.0), {}, 'h1', True),
    (dict(retries=10), {}, 'h1', True),
    (dict(timeout=30.0), {}, 'h2', False),
    (dict(), {}, 'h1', False),                       # no wait budget: the two-task form
    (dict(timeout=0.0), {}, 'h1', False),            # no wait at all
    (dict(timeout=30.0, fork_batches_warning=False), {}, 'h1', False),
    (dict(timeout=30.0), dict(check_mode=True), 'h1', False),
    (dict(timeout=30.0), dict(run_once=True), 'h1', False),
    (dict(timeout=30.0), dict(throttle=1), 'h1', True),
])
def test_warn_fork_batches(warned, given, task_kw, host, shown):
    text = task.warn_fork_batches(task_args(shell='true', **given), FakeTask(**task_kw),
                                  dict(FLEET_VARS, inventory_hostname=host))
    assert warned == ([text] if shown else [])
    assert bool(text) is shown


def test_warn_fork_batches_once_per_task_in_a_process(warned):
    """A loop's items run in the host's one worker process: the first says it."""
    args = task_args(shell='true', timeout=30.0)
    for _item in range(3):
        task.warn_fork_batches(args, FakeTask(), FLEET_VARS)
    task.warn_fork_batches(args, FakeTask(uuid='t2'), FLEET_VARS)
    assert len(warned) == 2


def test_warn_fork_batches_without_forks(warned, monkeypatch):
    monkeypatch.setattr(task.context, 'CLIARGS', {})
    assert task.warn_fork_batches(task_args(shell='true', timeout=30.0), FakeTask(),
                                  FLEET_VARS) is None
    assert warned == []
