# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/plugin_utils/_action.py: the controller-side helpers of the
action plugins.

Table-driven tests of action_fail (the result's keys kept, no ``exception``), native_types
(started/finished of the type native async_status has on this ansible-core),
native_prefill, job_result (stdout_lines/stderr_lines split as ActionBase splits them),
many_result (changed, failed and the message naming each failed job), jobs_of and jid_of
(a registered variable's name or the value itself, and the errors), and wait_budget.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from ansible.errors import AnsibleActionFail

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors
from ansible_collections.asyncjobs.named.plugins.plugin_utils import _action as action

JID_FORMS = ('(async_wrapper: optional "j", digits, ".", digits) or "66c6c6863f27278e" '
             '(Mitogen for Ansible: 16 hex digits)')


def native(value):
    """started/finished as native async_status gives them on this ansible-core (2.19 turned
    them into bools)."""
    return bool(value) if action.BOOL_STATES else int(value)


def test_bool_states_follow_the_core_version():
    assert action.BOOL_STATES is (action._core_version() >= (2, 19))


# --- action_fail -------------------------------------------------------------------------------

@pytest.mark.parametrize('result, expected', [
    (None, {}),
    ({}, {}),
    (dict(rc=3, ansible_job_id='j1.2', results=[1, 2]),
     dict(rc=3, ansible_job_id='j1.2', results=[1, 2])),
])
@pytest.mark.parametrize('while_handling', [False, True], ids=['plain', 'in-except'])
def test_action_fail(result, expected, while_handling):
    """Raised while handling a JobError too (before 2.19, AnsibleActionFail stored the
    traceback of the exception being handled as ``exception``)."""
    if while_handling:
        try:
            raise errors.JobError('inner')
        except errors.JobError:
            error = action.action_fail('the message', result)
    else:
        error = action.action_fail('the message', result)
    assert isinstance(error, AnsibleActionFail)
    assert error.message == 'the message'
    assert 'exception' not in error.result
    assert error.result == dict(expected, failed=True, msg='the message')


# --- native_types, native_prefill ----------------------------------------------------------------

@pytest.mark.parametrize('given, expected', [
    (dict(started=1, finished=0), dict(started=native(1), finished=native(0))),
    (dict(started=True, finished=False), dict(started=native(1), finished=native(0))),
    (dict(started=0, finished=1, rc=0), dict(started=native(0), finished=native(1), rc=0)),
    (dict(finished=1), dict(finished=native(1))),
    (dict(rc=1, stdout=''), dict(rc=1, stdout='')),
    ({}, {}),
])
def test_native_types(given, expected):
    result = action.native_types(given)
    assert result is given  # in place
    assert result == expected
    for key in ('started', 'finished'):
        if key in result:
            assert type(result[key]) is type(native(1))


@pytest.mark.parametrize('jid', [None, 'j1.2'])
def test_native_prefill(jid):
    assert action.native_prefill(jid) == dict(started=False, finished=False, stdout='', stderr='',
                                              stdout_lines=[], stderr_lines=[], ansible_job_id=jid)
    assert action.native_prefill() == action.native_prefill(None)


# --- job_result --------------------------------------------------------------------------------

@pytest.mark.parametrize('status, expected', [
    # the prefilled keys, the status over them
    (dict(state='running', started=True, finished=False),
     dict(state='running', started=native(1), finished=native(0), stdout='', stderr='',
          stdout_lines=[], stderr_lines=[])),
    # stdout and stderr split into lines, as ActionBase splits a module's
    (dict(state='succeeded', started=1, finished=1, rc=0, stdout='a\nb\n\nc', stderr='warn\n'),
     dict(state='succeeded', started=native(1), finished=native(1), rc=0, stdout='a\nb\n\nc',
          stderr='warn\n', stdout_lines=['a', 'b', '', 'c'], stderr_lines=['warn'])),
    (dict(state='failed', stdout=None, stderr='x\r\ny'),
     dict(state='failed', started=native(0), finished=native(0), stdout=None, stderr='x\r\ny',
          stdout_lines=[], stderr_lines=['x', 'y'])),
    # lines that came with it (a module's own result) are kept as they are
    (dict(state='succeeded', stdout='a\nb', stdout_lines=['given']),
     dict(state='succeeded', started=native(0), finished=native(0), stdout='a\nb', stderr='',
          stdout_lines=['given'], stderr_lines=[])),
    # the status's own job id wins over the one asked for
    (dict(state='absent', ansible_job_id=None),
     dict(state='absent', ansible_job_id=None, started=native(0), finished=native(0), stdout='',
          stderr='', stdout_lines=[], stderr_lines=[])),
])
def test_job_result(status, expected):
    expected = dict(dict(ansible_job_id='j1.2'), **expected)
    result = action.job_result('j1.2', status)
    assert result == expected
    assert type(result['started']) is type(native(1))


def test_job_result_leaves_the_status_alone():
    status = dict(state='succeeded', stdout='a\nb', started=1)
    action.job_result('j1.2', status)
    assert status == dict(state='succeeded', stdout='a\nb', started=1)


# --- many_result ---------------------------------------------------------------------------------

@pytest.mark.parametrize('results, expected', [
    ([dict(ansible_job_id='j1.2', state='succeeded', changed=False)], dict(changed=False)),
    ([dict(ansible_job_id='j1.2', state='succeeded', changed=False),
      dict(ansible_job_id='j3.4', state='running', changed=True)], dict(changed=True)),
    ([dict(ansible_job_id='j1.2', ansible_job_alias='build', state='failed', failed=True,
           msg='non-zero return code'),
      dict(ansible_job_id='j3.4', state='succeeded'),
      dict(ansible_job_id='j5.6', state='orphaned', failed=True, msg=''),
      dict(ansible_job_id='j7.8', state='running', failed=True, msg='Ran out of attempts.')],
     dict(changed=False, failed=True, msg='3 of 4 jobs failed: j1.2 (build): non-zero return '
          'code; j5.6: state orphaned; j7.8: Ran out of attempts.')),
    ([dict(ansible_job_id=None, ansible_job_alias='gone', state='absent', failed=True)],
     dict(changed=False, failed=True, msg='1 of 1 jobs failed: None (gone): state absent')),
    ([], dict(changed=False)),
])
def test_many_result(results, expected):
    assert action.many_result(results) == dict(expected, results=results)


# --- jobs_of, jid_of -----------------------------------------------------------------------------

REGISTERED = dict(ansible_job_id='j1.2', started=1, finished=0, results_file='/x/j1.2',
                  changed=True)
TASK_VARS = dict(job=REGISTERED, loop=dict(results=[REGISTERED, dict(REGISTERED,
                                                                     ansible_job_id='j3.4')]),
                 names=['build', 'deploy'], skipped=dict(skipped=True, changed=False),
                 text='just text', bad=dict(ansible_job_id='nope'))


@pytest.mark.parametrize('jobs, refs', [
    (['j1.2', 'j3.4'], [dict(jid='j1.2'), dict(jid='j3.4')]),
    ('loop', [dict(jid='j1.2'), dict(jid='j3.4')]),
    ('names', [dict(alias='build'), dict(alias='deploy')]),
    ([REGISTERED], [dict(jid='j1.2')]),
])
def test_jobs_of(jobs, refs):
    assert action.jobs_of(jobs, TASK_VARS) == refs


@pytest.mark.parametrize('jobs, msg', [
    ('nothing', "jobs: no variable named 'nothing' is defined for this host; give a list of job "
                "ids, names or registered async results, a loop's registered result, or the name "
                "of a variable that holds one"),
    ('text', "jobs must be a list (of job ids, names or registered async results) or a loop's "
             "registered result, not a string"),
    # Strings that cannot name a variable: a number as ansible-core before 2.19 templates
    # it, a job id.
    ('42', "jobs must be a list (of job ids, names or registered async results) or a loop's "
           "registered result, not a string"),
    ('j1.2', "jobs must be a list (of job ids, names or registered async results) or a loop's "
             "registered result, not a string"),
    ('job', "jobs must be a list (of job ids, names or registered async results) or a loop's "
            "registered result, not a dict"),
    ([], 'jobs is empty: give at least one job'),
    (['j1.2', 'build'], 'jobs[1] is a name, but jobs[0] is a job id: give the jobs in one form'),
])
def test_jobs_of_refused(jobs, msg):
    with pytest.raises(AnsibleActionFail) as exc:
        action.jobs_of(jobs, TASK_VARS)
    assert exc.value.message == msg
    assert 'exception' not in exc.value.result


@pytest.mark.parametrize('job, jid', [
    ('job', 'j1.2'),
    (REGISTERED, 'j1.2'),
    (dict(ansible_job_id='123.45'), '123.45'),
])
def test_jid_of(job, jid):
    assert action.jid_of(job, TASK_VARS) == jid


REGISTER = 'register the result of a task run with async and poll: 0'


@pytest.mark.parametrize('job, msg', [
    ('nothing', "job: no variable named 'nothing' is defined for this host; give the name of a "
                "variable registered by an async task (poll: 0), or that result itself"),
    ('text', "job: text is not an async job result: it has no ansible_job_id; " + REGISTER),
    # a string that cannot name a variable (a number as ansible-core before 2.19 templates it)
    ('42', "job: the given result is not an async job result: it has no ansible_job_id; "
           + REGISTER),
    ('skipped', 'job: skipped is not an async job result: it has no ansible_job_id (the task '
                'that registered it was skipped); ' + REGISTER),
    (dict(rc=0), 'job: the given result is not an async job result: it has no ansible_job_id; '
                 + REGISTER),
    (dict(skipped=True), 'job: the given result is not an async job result: it has no '
                         'ansible_job_id (the task that registered it was skipped); ' + REGISTER),
    (['j1.2'], 'job: the given result is not an async job result: it has no ansible_job_id; '
               + REGISTER),
    ('bad', 'invalid jid \'nope\': a job id looks like "j123456789012.4242" ' + JID_FORMS),
])
def test_jid_of_refused(job, msg):
    with pytest.raises(AnsibleActionFail) as exc:
        action.jid_of(job, TASK_VARS)
    assert exc.value.message == msg
    assert 'exception' not in exc.value.result


# --- wait_budget ---------------------------------------------------------------------------------

@pytest.mark.parametrize('args, budget', [
    (dict(timeout=None, retries=None, delay=5.0), None),
    (dict(), None),
    (dict(timeout=10, retries=None, delay=5.0), 10.0),
    (dict(timeout=0, retries=None, delay=5.0), 0.0),
    (dict(timeout=None, retries=3, delay=5.0), 15.0),
    (dict(timeout=None, retries=0, delay=5.0), 0.0),
    (dict(timeout=None, retries=4, delay=0.5), 2.0),
    (dict(timeout=2.5, retries=None, delay=0), 2.5),
])
def test_wait_budget(args, budget):
    result = action.wait_budget(args)
    assert result == budget
    assert budget is None or result.__class__ is float  # exactly a float, not an int


@pytest.mark.parametrize('args, msg', [
    (dict(timeout=-1, retries=None, delay=5.0), 'timeout must be 0 or more, not -1'),
    (dict(timeout=None, retries=-2, delay=5.0), 'retries must be 0 or more, not -2'),
    (dict(timeout=None, retries=3, delay=-0.5), 'delay must be 0 or more, not -0.5'),
    # a negative delay is refused even where it does not count
    (dict(timeout=10, retries=None, delay=-1), 'delay must be 0 or more, not -1'),
])
def test_wait_budget_refused(args, msg):
    with pytest.raises(AnsibleActionFail) as exc:
        action.wait_budget(args)
    assert exc.value.message == msg


# --- _job_name -----------------------------------------------------------------------------------

@pytest.mark.parametrize('status, ref, name', [
    (dict(ansible_job_id='j1.2', ansible_job_alias='build'), {}, 'j1.2 (build)'),
    (dict(ansible_job_id='j1.2'), dict(alias='deploy'), 'j1.2 (deploy)'),
    (dict(ansible_job_id='j1.2', ansible_job_alias='build'), dict(alias='deploy'), 'j1.2 (build)'),
    (dict(ansible_job_id='j1.2'), dict(jid='j1.2'), 'j1.2'),
])
def test_job_name(status, ref, name):
    assert action._job_name(status, ref) == name


# --- Mitogen for Ansible: detection and the async dir rule -------------------------------------

class _Plain:
    pass


def _action_with(connection_class):
    class Action:
        _connection = connection_class()
    return Action()


def test_under_mitogen():
    mitogen_base = type('Connection', (), {'__module__': 'ansible_mitogen.connection'})
    mitogen_local = type('Connection', (mitogen_base,),
                         {'__module__': 'ansible.plugins.connection.mitogen_local'})
    assert action.under_mitogen(_action_with(mitogen_local)) is True
    assert action.under_mitogen(_action_with(_Plain)) is False


MITOGEN_WHERE = ("Mitogen for Ansible's async runner ignores: it writes job files to "
                 "ANSIBLE_ASYNC_DIR of the target's own environment, else ~/.ansible_async")


@pytest.mark.parametrize('configured, task_env, controller_env, error', [
    ('~/.ansible_async', {}, {}, None),
    ('/var/jobs', {}, {'ANSIBLE_ASYNC_DIR': '/var/jobs'}, None),
    ('~/.ansible_async', {'PATH': '/bin'}, {}, None),
    ('/var/jobs', {}, {}, "the async dir is set to '/var/jobs' (ansible_async_dir or async_dir "
                          "in ansible.cfg), which " + MITOGEN_WHERE),
    ('/var/jobs', {}, {'ANSIBLE_ASYNC_DIR': '/other'}, "the async dir is set to '/var/jobs'"),
    ('~/.ansible_async', {'ANSIBLE_ASYNC_DIR': '/x'}, {},
     "ANSIBLE_ASYNC_DIR is set in the task's environment, which Mitogen for Ansible's async "
     "runner does not read"),
])
def test_mitogen_async_dir_error(configured, task_env, controller_env, error):
    got = action.mitogen_async_dir_error(configured, task_env, controller_env)
    if error is None:
        assert got is None
    else:
        assert got.startswith(error), got


# --- what the controller imports -------------------------------------------------------------

# The boundary is the tree: the action plugins import module_utils from _shared only (the
# job model, names, specs, the names of the entries, the jobs option, failpoints); _host
# runs on the host (/proc, locks, fcntl, processes): a worker that imported it would pay for
# code it never runs.


def test_the_action_plugins_import_no_host_side_module_utils():
    code = '\n'.join([
        'import os, sys',
        'import ansible.plugins.action',
        'import ansible_collections.asyncjobs.named.plugins.action as pkg',
        'for name in sorted(os.listdir(list(pkg.__path__)[0])):',
        '    if name.endswith(".py") and name != "__init__.py":',
        '        __import__("ansible_collections.asyncjobs.named.plugins.action." + name[:-3])',
        'prefix = "ansible_collections.asyncjobs.named.plugins.module_utils."',
        'print(" ".join(sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix))))',
    ])
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert '_shared.names' in out and '_shared.specs' in out
    assert [m for m in out if m != '_shared' and not m.startswith('_shared.')] == []


# --- a wait whose connection was lost -------------------------------------------------------

CAUSE = 'the connection to db3 failed (Failed to connect to the host via ssh: timeout)'


def test_lost_wait_of_one_job_names_it_and_stays_unreachable():
    last = dict(state='running', ansible_job_id='j1.2')
    got = action.lost_wait_result('db3', CAUSE, [(dict(jid='j1.2', alias='migrate'), last)],
                                  'attaches to it', unreachable=True)
    assert got == dict(
        unreachable=True, changed=False, ansible_job_id='j1.2', ansible_job_alias='migrate',
        state='running', finished=False,
        msg=(CAUSE + " while this task waited for job j1.2 named 'migrate'. It was running "
             "when last seen and keeps running on the host: running this task again attaches "
             "to it"))


def test_lost_wait_before_any_status_names_what_it_has():
    got = action.lost_wait_result('db3', 'its result was lost (rc -9)', [(dict(alias='x'), None)],
                                  'waits for it again', unreachable=False)
    assert (got['failed'], got['ansible_job_id'], got['ansible_job_alias']) == (True, None, 'x')
    assert 'unreachable' not in got
    assert got['msg'].startswith("its result was lost (rc -9) while this task waited for the job "
                                 "named 'x'.")


def test_lost_wait_of_several_jobs_lists_them():
    got = action.lost_wait_result(
        'db3', CAUSE, [(dict(jid='j1.2'), None), (dict(jid='j3.4', alias='b'), None)],
        'waits for them again', unreachable=True)
    assert got['results'] == [
        dict(ansible_job_id='j1.2', state='running', finished=False),
        dict(ansible_job_id='j3.4', ansible_job_alias='b', state='running', finished=False)]
    assert "waited for job j1.2, job j3.4 named 'b'. They were running when last seen and keep " \
        "running on the host" in got['msg']


# --- wait slices and progress lines -----------------------------------------------------------

@pytest.mark.parametrize('ages,remaining,seconds', [
    ([], None, 15.0),                 # nothing known yet: the first slice
    ([None], None, 15.0),
    ([3.0], None, 15.0),              # a young job: the shortest slice
    ([25.0], None, 25.0),             # as long as the job has run
    ([600.0], None, 60.0),            # at most a minute
    ([600.0, 20.0], None, 20.0),      # the youngest of several jobs
    ([600.0], 42.0, 42.0),            # never past the budget
    ([5.0], 4.0, 4.0),
    ([600.0], 0.0, 0.0),
])
def test_slice_seconds(ages, remaining, seconds):
    assert action.slice_seconds(ages, remaining) == seconds


def test_progress_lines_go_on_while_a_slice_runs(monkeypatch):
    shown = []
    monkeypatch.setattr(action.display, 'display', shown.append)
    lines = action.AsyncJobsAction._progress_lines(
        [(dict(ansible_job_id='j1.2', ansible_job_alias='mig', running_for=100.0,
               stdout_tail=['step 3']), {'alias': 'mig'})], 'db1', 30.0)
    assert lines(20.0) == ['mig (j1.2) on db1: running for 2m00s | step 3']
    with action.ProgressTicker(0.05, lambda elapsed: ['tick %.0f' % (elapsed * 0)]):
        deadline = action.time.time() + 5
        while len(shown) < 3 and action.time.time() < deadline:
            action.time.sleep(0.01)
    count = len(shown)
    assert count >= 3 and set(shown) == {'tick 0'}
    action.time.sleep(0.2)
    assert len(shown) == count  # stopped with the slice


def test_a_failing_progress_line_stops_only_the_ticker(monkeypatch):
    def broken(elapsed):
        raise ValueError('no line')
    with action.ProgressTicker(0.01, broken) as ticker:
        action.time.sleep(0.1)
    assert not ticker.thread.is_alive()
