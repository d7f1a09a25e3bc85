# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The job policies of asyncjobs.named.async_task, with real ansible-playbook runs:
``on_finished`` (return, restart, restart_failed) against a job in each finished state
(succeeded, failed, timed out, killed, orphaned), ``on_running`` (attach, fail, restart)
against a running job, check mode, and twenty controllers at once with ``fail`` and with
``restart``. Under async_wrapper and under Mitogen for Ansible's runner.

Each case's job appends a line to its own counter file: one line means nothing was
started again, two mean the policy started a new job.
"""

import json
import os

import pytest

from _async_task_lib import (background_starter, job_file, lines, mitogen_env, wait_for,
                             wrapper_processes)
from _jobs_lib import kill_job

FINISHED = ('succeeded', 'failed', 'timed_out', 'killed', 'orphaned')
# What each on_finished policy does with a job in each finished state: start again or not.
STARTS_AGAIN = {
    'return': lambda state: False,
    'restart': lambda state: True,
    'restart_failed': lambda state: state != 'succeeded',
}
STRATEGIES = [pytest.param('', id='wrapper'),
              pytest.param('mitogen_linear', id='mitogen', marks=pytest.mark.mitogen)]


def _by_name(results):
    return dict((r['ansible_job_alias'], r) for r in results['results'] if 'ansible_job_alias' in r)


def _orphan(jid):
    """Kill the job's runner and every process of its group, as a crash or a reboot would:
    the job file stays unfinished, with nothing left that runs it."""
    kill_job(jid, timeout=30, pids_of=wrapper_processes)


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_policies_against_every_state(strategy, run_playbook, async_dir, test_dirs):
    root = test_dirs.root
    gate = root / 'gate'
    gate.write_text('', encoding='utf-8')
    env = mitogen_env(strategy, async_dir) if strategy else None
    evars = {'dir': str(root), 'gate': str(gate)}
    names = ['%s-%s' % (s, p) for s in FINISHED for p in STARTS_AGAIN] + [
        'running-%s' % p for p in ('attach', 'fail', 'restart')]
    for name in names:
        (root / (name + '.setup')).write_text('', encoding='utf-8')
    try:
        setup = run_playbook('task_policies.yml', extra_vars=dict(evars, phase='setup'),
                             env=env).load('setup')
        started = _by_name(setup['setup_started'])
        first = dict(_by_name(setup['setup_waited']), **started)
        for policy in STARTS_AGAIN:
            _orphan(started['orphaned-%s' % policy]['ansible_job_id'])
        for name in names:
            (root / (name + '.setup')).unlink()
        for name in names:
            if not name.startswith('running-'):
                wait_for(lambda: not wrapper_processes(first[name]['ansible_job_id']), 30,
                         'the job of %s to end' % name)
        r = run_playbook('task_policies.yml', extra_vars=dict(evars, phase='apply'), env=env)
        applied = r.load('apply')
    finally:
        gate.unlink()

    # on_finished: the same job and its outcome, or a new job (which prints "fresh")
    finished = _by_name(applied['finished'])
    for state in FINISHED:
        for policy, again in STARTS_AGAIN.items():
            name = '%s-%s' % (state, policy)
            res, old = finished[name], first[name]['ansible_job_id']
            what = '%s: %s' % (name, json.dumps(res)[:1500])
            if again(state):
                assert res['attached'] is False and res['ansible_job_id'] != old, what
                assert res['state'] == 'succeeded' and res['stdout'] == 'fresh', what
                assert lines(root / (name + '.count')) == ['run', 'run'], what
            else:
                assert res['attached'] is True and res['ansible_job_id'] == old, what
                assert res['state'] == state, what
                assert res.get('failed', False) is (state != 'succeeded'), what
                assert lines(root / (name + '.count')) == ['run'], what
            assert 'replaced' not in res, what

    running = _by_name(applied['running'])
    old = dict((p, first['running-%s' % p]['ansible_job_id']) for p in ('attach', 'fail', 'restart'))

    # attach: the running job, nothing started
    res = running['running-attach']
    assert (res['attached'], res['ansible_job_id'], res['state']) == (True, old['attach'], 'running')
    assert lines(root / 'running-attach.count') == ['run']

    # fail: the task fails naming the running job, which keeps running; nothing started
    res = running['running-fail']
    assert res['failed'] is True and res['attached'] is False, res
    assert res['ansible_job_id'] == old['fail'] and res['state'] == 'running', res
    assert res['job_started'] is False, res
    assert res['msg'] == (
        "job %s named 'running-fail' is running and on_running=fail: nothing was started, and "
        "that job keeps running. async_wait (alias=running-fail) waits for it; "
        "on_running=attach attaches to it, on_running=restart kills it and starts a new one"
        % old['fail']), res
    assert lines(root / 'running-fail.count') == ['run']

    # restart: the running job killed (its processes gone first), a new one started
    res = running['running-restart']
    assert res['attached'] is False and res['ansible_job_id'] != old['restart'], res
    assert res['state'] == 'succeeded' and res['stdout'] == 'fresh', res
    assert res['replaced']['ansible_job_id'] == old['restart'], res
    assert res['replaced']['state'] == 'killed' and res['replaced']['pids'], res
    assert job_file(async_dir, old['restart'])['killed'] is True
    assert not wrapper_processes(old['restart'])
    assert lines(root / 'running-restart.count') == ['run', 'run']

    # check mode says what it would do, and does nothing
    check = dict((r['item'], r) for r in applied['running_check']['results'])
    assert check['fail']['failed'] is True and check['fail']['msg'].startswith(
        "would fail: job %s named 'running-fail' is running" % old['fail']), check
    assert check['restart']['changed'] is True and not check['restart'].get('failed'), check
    assert check['restart']['msg'] == (
        "would kill job %s named 'running-restart' (on_running=restart) and start a new job"
        % old['restart']), check
    for jid in (old['attach'], old['fail']):
        wait_for(lambda: not wrapper_processes(jid), 30, 'job %s to end' % jid)


@pytest.fixture
def start_playbook(request, ansible_playbook, installed_collection, session_dir, test_dirs):
    return background_starter(request, ansible_playbook, installed_collection, session_dir,
                              test_dirs)


@pytest.mark.wrapper_only('twenty controllers at once: the exactly-once race under the '
                          'one-step start; under Mitogen the start in steps has its own test')
@pytest.mark.parametrize('policy', ['fail', 'restart'])
def test_twenty_controllers_with_a_policy(policy, start_playbook, async_dir, test_dirs, out_dir):
    """Twenty controllers start the same named job at once without waiting. ``fail``: one
    starts it, the nineteen others fail naming it, one run. ``restart``: each kills the copy
    before it and starts its own, under the name's lock: twenty runs, never two at once (the
    job's exclusive directory is never found taken), one job left running."""
    root = test_dirs.root
    gate = root / 'gate'
    gate.write_text('', encoding='utf-8')
    n = 20
    try:
        runs = [start_playbook('task_policy_race.yml',
                               extra_vars={'dir': str(root), 'gate': str(gate), 'tag': str(i),
                                           'policy': policy})
                for i in range(n)]
        for run in runs:
            assert run.wait(300) == 0, run.describe()
        results = [json.loads((out_dir / ('result-%d.json' % i)).read_text(encoding='utf-8'))
                   for i in range(n)]
        jids = set(r['ansible_job_id'] for r in results)
        if policy == 'fail':
            started = [r for r in results if not r.get('failed')]
            assert len(started) == 1 and started[0]['attached'] is False, results
            assert len(jids) == 1, results
            for res in results:
                if res.get('failed'):
                    assert 'on_running=fail: nothing was started' in res['msg'], res
            assert lines(root / 'counter') == ['run']
        else:
            assert not [r for r in results if r.get('failed')], results
            assert len(jids) == n and all(r['attached'] is False for r in results), results
            # A copy killed before its shell got to its first command leaves no line.
            assert 1 <= len(lines(root / 'counter')) <= n
            replaced = [r['replaced']['ansible_job_id'] for r in results if 'replaced' in r]
            assert len(replaced) == n - 1 and len(set(replaced)) == n - 1, results
            alive = [j for j in jids if wrapper_processes(j)]
            assert len(alive) == 1 and alive[0] not in replaced, (alive, replaced)
        assert not (root / 'overlap').exists(), (root / 'overlap').read_text(encoding='utf-8')
        assert not [name for name in os.listdir(async_dir) if name.endswith('.claim')]
    finally:
        if gate.exists():
            gate.unlink()
    for jid in set(r['ansible_job_id'] for r in results):
        wait_for(lambda: not wrapper_processes(jid), 30, 'job %s to end' % jid)
