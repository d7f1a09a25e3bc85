# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""asyncjobs.named.async_wait and async_kill with real ansible-playbook runs.

async_wait by job (variable name and result), jid and alias, with and without cleanup;
two controllers waiting on one job, progress lines at -v, a waiter interrupted with
Ctrl-C (SIGINT); async_kill by alias and jid, of jobs with children and of a job that
ignores SIGTERM, twice, of a missing name, then a restart; bad inputs.
(Check mode of all three and async_kill over SSH are in test_async_task.py.)
"""

import json
import os
import re
import signal
import time
import uuid

import pytest

from _core import no_job_id
from _async_task_lib import (ALIAS_HELP, KILL_MSG, RETRYING, alias_target, always_keys,
                             assert_always, background_starter, flag, is_mitogen_jid,
                             job_file, sleep_processes, wait_for, wrapper_processes)


@pytest.fixture
def start_playbook(request, ansible_playbook, installed_collection, session_dir, test_dirs):
    """ansible-playbook in the background: see _async_task_lib.background_starter."""
    return background_starter(request, ansible_playbook, installed_collection, session_dir,
                              test_dirs)


@pytest.fixture(scope='module')
def wait_keys(installed_collection):
    return always_keys(installed_collection, 'async_wait')


@pytest.fixture(scope='module')
def kill_keys(installed_collection):
    return always_keys(installed_collection, 'async_kill')


@pytest.mark.matrix
def test_wait_forms(run_playbook, async_dir, ansible_version, wait_keys):
    job_seconds = 2
    r = run_playbook('wait_forms.yml', extra_vars={'job_seconds': job_seconds})
    jobs = r.load('jobs')
    cases = {'by_var': 'a', 'by_result': 'b', 'by_jid': 'c', 'by_alias': 'named',
             'by_alias_kept': 'kept'}
    for name, job in cases.items():
        res = r.load(name)
        jid = jobs[job]['ansible_job_id']
        assert_always(res, wait_keys, name)
        assert res['ansible_job_id'] == jid, name
        assert res['state'] == 'succeeded' and res['rc'] == 0 and not res['failed'], res
        assert res['started'] == flag(ansible_version, True)
        assert res['finished'] == flag(ansible_version, True)
        assert res['stdout'] == 'job-%s' % job
        assert res['results_file'] == os.path.join(async_dir, jid)
        assert job_file(async_dir, jid)['stdout'] == 'job-%s' % job  # the job file stays
        # a sanity bound only (the latency is measured by bench/)
        assert 0 <= res['waited'] < job_seconds + 4, res   # the job sleeps job_seconds + 0.5
        if name.startswith('by_alias'):
            assert res['ansible_job_alias'] == job
        else:
            assert 'ansible_job_alias' not in res
            assert res['released'] == []
    named, kept = r.load('by_alias'), r.load('by_alias_kept')
    assert named['released'] == [os.path.join(async_dir, 'jid_named')]
    assert alias_target(async_dir, 'named') is None
    assert kept['released'] == []
    assert alias_target(async_dir, 'kept') == kept['ansible_job_id']
    assert RETRYING not in r.stdout
    # Shown with pytest -rP: how long the first wait took on this machine.
    print('first wait: waited %s s' % r.load('by_var')['waited'])


def test_two_waiters_progress_and_interrupt(run_playbook, start_playbook, async_dir, out_dir,
                                            wait_keys):
    # Long enough for a first 15 s slice to end while the job runs, also when the three
    # controllers start slowly (under Mitogen, on a loaded machine).
    job_seconds = 30
    r = run_playbook('wait_start.yml', extra_vars={'alias': 'slow', 'job_seconds': job_seconds})
    jid = r.load('started')['ansible_job_id']
    one = start_playbook('wait_alias.yml', extra_vars={'alias': 'slow', 'tag': 'one'}, args=['-v'])
    two = start_playbook('wait_alias.yml', extra_vars={'alias': 'slow', 'tag': 'two'})
    interrupted = start_playbook('wait_alias.yml', extra_vars={'alias': 'slow', 'tag': 'int'})

    # Ctrl-C on a waiting controller: the job keeps running, and keeps its name.
    wait_for(lambda: 'TASK [Wait]' in interrupted.output(), 60, 'the waiter to wait',
             proc=interrupted)
    time.sleep(2)
    interrupted.kill(signal.SIGINT)
    assert interrupted.proc.wait(30) != 0, interrupted.describe()
    assert wrapper_processes(jid), 'the job died with the interrupted waiter'
    assert alias_target(async_dir, 'slow') == jid
    assert job_file(async_dir, jid).get('finished') in (0, False)

    for run in (one, two):
        assert run.wait(120) == 0, run.describe()
        assert RETRYING not in run.output()
    results = [json.loads((out_dir / ('result-%s.json' % t)).read_text(encoding='utf-8'))
               for t in ('one', 'two')]
    for res in results:
        assert_always(res, wait_keys)
        assert res['ansible_job_id'] == jid and res['ansible_job_alias'] == 'slow'
        assert res['state'] == 'succeeded' and res['stdout'] == 'slow-done'
        assert res['waited'] < job_seconds + 4   # the job sleeps job_seconds + 0.5
    # the first to see the end freed the name; the other still held the jid
    assert sorted(res['released'] for res in results) == [[], [os.path.join(async_dir, 'jid_slow')]]
    assert alias_target(async_dir, 'slow') is None
    assert job_file(async_dir, jid)['stdout'] == 'slow-done'

    # -v: one progress line per slice (15 s) that ended with the job still running
    progress = re.findall(r'^localhost: job %s \(slow\) still running after \d+ s of 90 s$'
                          % re.escape(jid), one.output(), re.M)
    assert 1 <= len(progress) <= 2, one.output()
    assert 'still running' not in two.output()


@pytest.mark.matrix
def test_kill(run_playbook, async_dir, kill_keys):
    nap = str(uuid.uuid4().int % 10 ** 6)
    naps = ['%d.%s' % (n, nap) for n in (300, 301, 302, 303)]
    try:
        r = run_playbook('kill_children.yml', extra_vars={'nap': nap})
        d = r.dumps()
        jid, jid2, jid3 = (d[k]['ansible_job_id'] for k in ('victim', 'victim_jid', 'stubborn'))
        for name in ('kill_alias', 'kill_again', 'kill_jid', 'kill_missing', 'kill_stubborn'):
            assert_always(d[name], kill_keys, name)
            assert d[name]['failed'] is False

        # by alias: the shell and its two children, the runner and the watcher (Mitogen's
        # runner has no watcher)
        k = d['kill_alias']
        assert k['changed'] is True and k['state'] == 'killed' and k['killed'] is True
        assert k['ansible_job_id'] == jid and k['ansible_job_alias'] == 'victim'
        assert k['signal'] == 'SIGTERM' and len(k['pids']) >= (4 if is_mitogen_jid(jid) else 5)
        assert k['msg'] == KILL_MSG % (jid, 'SIGTERM')
        data = job_file(async_dir, jid)
        assert (data['killed'], data['finished'], data['failed']) == (True, True, True)
        assert data['msg'] == KILL_MSG % (jid, 'SIGTERM')
        assert d['status']['state'] == 'killed' and d['status']['killed'] is True

        # twice: ok, not changed
        again = d['kill_again']
        assert again['changed'] is False and again['state'] == 'killed' and again['pids'] == []

        # by jid, with a signal number
        kj = d['kill_jid']
        assert kj['changed'] is True and kj['state'] == 'killed' and kj['ansible_job_id'] == jid2
        assert kj['signal'] == 'SIGKILL' and kj['msg'] == KILL_MSG % (jid2, 'SIGKILL')
        assert 'ansible_job_alias' not in kj
        assert job_file(async_dir, jid2)['killed'] is True

        # a job that ignores SIGTERM gets SIGKILL after the grace
        ks = d['kill_stubborn']
        assert ks['changed'] is True and ks['state'] == 'killed'
        assert ks['msg'] == KILL_MSG % (jid3, 'SIGTERM')

        # a missing name: ok, not changed
        km = d['kill_missing']
        assert km['changed'] is False and km['state'] == 'absent'
        assert no_job_id(km) and km['pids'] == []

        # no process of the jobs is left
        assert not sleep_processes(*naps)
        for j in (jid, jid2, jid3):
            assert not wrapper_processes(j), j

        # a killed job's name is taken by a new job
        re_ = d['restarted']
        assert re_['attached'] is False and re_['ansible_job_id'] not in (jid, jid2, jid3)
        assert re_['stdout'] == 'again' and re_['state'] == 'succeeded'
        assert job_file(async_dir, jid)['killed'] is True

        kf = d['kill_finished']
        assert_always(kf, kill_keys, 'kill_finished')
        assert kf['changed'] is False and kf['failed'] is False and kf['pids'] == []
        assert kf['state'] == 'succeeded' and kf['killed'] is False
        assert job_file(async_dir, re_['ansible_job_id'])['stdout'] == 'again'

        wk = d['wait_killed']
        assert wk['failed'] is True and wk['state'] == 'killed'
        assert wk['msg'] == KILL_MSG % (jid2, 'SIGKILL')
    finally:
        for pid in sleep_processes(*naps):
            os.kill(pid, signal.SIGKILL)


def test_bad_input(run_playbook, async_dir):
    start = time.time()
    r = run_playbook('wait_bad_input.yml')
    took = time.time() - start
    wait_bad, kill_bad = r.load('wait_bad'), r.load('kill_bad')
    jid_help = ('a job id looks like "j123456789012.4242" (async_wrapper: optional "j", '
                'digits, ".", digits) or "66c6c6863f27278e" (Mitogen for Ansible: 16 hex digits)')
    expected_wait = {
        'nothing': 'one of the following is required: jid, alias, job, jobs',
        'jid_and_alias': 'parameters are mutually exclusive: jid|alias|job|jobs',
        'job_and_jid': 'parameters are mutually exclusive: jid|alias|job|jobs',
        'timeout_and_retries': 'parameters are mutually exclusive: timeout|retries',
        'bad_alias': "invalid alias 'a/b': use only %s" % ALIAS_HELP,
        'bad_jid': "invalid jid '12345': %s" % jid_help,
        'unknown_alias': "no job named 'ghost' in %s" % async_dir,
        'unknown_jid': 'could not find job',
        'undefined_var': "job: no variable named 'no_such_var' is defined for this host; give "
                         "the name of a variable registered by an async task (poll: 0), or "
                         "that result itself",
        'not_a_job': 'job: not_a_job is not an async job result: it has no ansible_job_id; '
                     'register the result of a task run with async and poll: 0',
        'skipped_job': 'job: the given result is not an async job result: it has no '
                       'ansible_job_id (the task that registered it was skipped); register '
                       'the result of a task run with async and poll: 0',
        'negative_timeout': 'timeout must be 0 or more, not -1.0',
    }
    expected_kill = {
        'nothing': 'one of the following is required: jid, alias',
        'jid_and_alias': 'parameters are mutually exclusive: jid|alias',
        'bad_alias': "invalid alias 'a/b': use only %s" % ALIAS_HELP,
        'bad_signal': "invalid signal 'NOPE': give a signal name such as TERM, INT, KILL or "
                      "a number",
        'signal_zero': "invalid signal '0': give a signal name such as TERM, INT, KILL or "
                       "a number",
        'negative_grace': 'grace must be 0 or more, not -1.0',
        'unknown_jid': 'could not find job',
    }
    for got, expected in ((wait_bad, expected_wait), (kill_bad, expected_kill)):
        assert sorted(got) == sorted(expected)
        for name, msg in expected.items():
            assert got[name]['failed'] is True, got[name]
            assert got[name]['msg'] == msg, name
    assert wait_bad['unknown_alias']['state'] == 'absent'
    assert wait_bad['unknown_jid']['ansible_job_id'] == 'j111111111111.1'
    # an unknown name or jid fails at once, not after its 120 s budget
    assert took < 60
