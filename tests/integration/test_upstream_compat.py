# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Playbooks written for the async_extra role (ScyllaDB's, which these modules descend
from) run unchanged with ``collections: [asyncjobs.named]``: short module names, ``k=v``
argument strings, ``hosts: localhost``, the role's register/until/retries patterns, and the
checks the role's own tests make of failed jobs (``msg == "Timeout exceeded"``, ``"The job
has failed." in warning``).

The playbooks are in playbooks/upstream/ (their README says what is test-only); each makes
its own checks with ``fail`` tasks as the role's tests do, and dumps its results, which the
tests here check key by key. Local connection; the whole file runs in well under a minute.
"""

from __future__ import annotations

import pytest

from _core import NON_ZERO_RC_MSG
from _jobs_lib import assert_flag

# The first sentence of async_task's warning for a job that finished failed: the role's
# test checks that the warning holds it.
JOB_FAILED = 'The job has failed.'


def _counter(out_dir):
    path = out_dir / 'counter'
    return path.read_text().splitlines() if path.exists() else []


def test_kill_start_alias_wait(run_playbook, ansible_version):
    """Kill by name (nothing to kill yet), start with native async, name it with
    ``async_alias: job=async_task_obj alias=blah``, poll by name with until, clean up."""
    r = run_playbook('upstream/kill_start_alias_wait.yml')
    kill = r.load('kill')
    assert kill['failed'] is False and kill['killed'] is False, kill
    assert kill['state'] == 'absent', kill
    start, alias = r.load('start'), r.load('alias')
    assert alias['ansible_job_id'] == start['ansible_job_id'], (start, alias)
    assert alias['ansible_job_alias'] == 'blah' and alias['failed'] is False, alias
    done = r.load('done')
    assert done['ansible_job_id'] == start['ansible_job_id'], done
    assert_flag(ansible_version, done, 'started', True)
    assert_flag(ansible_version, done, 'finished', True)
    assert (done['state'], done['stdout'], done['rc'], done['killed']) == (
        'succeeded', 'Hello', 0, False), done
    assert done['attempts'] >= 1, done
    cleanup = r.load('cleanup')
    assert cleanup['failed'] is False and cleanup['erased'], cleanup
    gone = r.load('gone')
    assert gone['state'] == 'absent' and gone['failed'] is False, gone
    assert_flag(ansible_version, gone, 'started', False)


def test_find_and_wait_attaches_after_a_crash(run_playbook, out_dir, ansible_version):
    """The first run starts and names the job, then dies; the second run finds it by
    name (started), starts nothing, and waits for it with ``async_wait: alias=blah
    retries=100 delay=1``, which releases the name once it returned the outcome."""
    run_playbook('upstream/find_and_wait.yml',
                 extra_vars=dict(stop_after_alias=True, job_seconds=3.5, tag='first_'))
    assert _counter(out_dir) == ['ran']
    r = run_playbook('upstream/find_and_wait.yml', extra_vars=dict(tag='second_'))
    r_found = r.load('second_found')
    assert_flag(ansible_version, r_found, 'started', True)
    assert_flag(ansible_version, r_found, 'finished', False)
    assert r_found['state'] == 'running', r_found
    waited = r.load('second_waited')
    assert waited['ansible_job_id'] == r_found['ansible_job_id'], waited
    assert (waited['state'], waited['stdout'], waited['failed']) == ('succeeded', 'Hello', False)
    assert waited['released'], waited
    assert _counter(out_dir) == ['ran'], 'the second run started the job again'


# Not in the matrix: the keys and texts are the collection's own, the same on every
# ansible-core; started/finished's type per core is checked by the matrix's other tests.
@pytest.mark.wrapper_only('the role\'s check of a timed-out job compares msg with async_wrapper\'s '
                          '"Timeout exceeded"; Mitogen\'s runner writes its own message')
def test_failed_jobs_as_the_role_checks_them(run_playbook, ansible_version):
    """The role's checks of failed jobs pass (the playbook's ``fail`` tasks), and the
    results hold the keys and texts those checks read."""
    r = run_playbook('upstream/failed_jobs.yml')
    timed_out = r.load('timed_out')
    assert timed_out['failed'] is True and timed_out['msg'] == 'Timeout exceeded', timed_out
    assert timed_out['state'] == 'timed_out', timed_out
    assert timed_out['warning'].startswith(JOB_FAILED + ' '), timed_out
    assert 'released' in timed_out['warning'], timed_out  # cleanup (default true) freed it
    exit_1 = r.load('exit_1')
    assert exit_1['failed'] is True and exit_1['rc'] == 1, exit_1
    assert exit_1['msg'] == NON_ZERO_RC_MSG and exit_1['state'] == 'failed', exit_1
    assert JOB_FAILED in exit_1['warning'], exit_1
    # a new job each time: the failed one's name was released
    assert exit_1['ansible_job_id'] != timed_out['ansible_job_id']
    assert exit_1['attached'] is False
    started, killed, status = r.load('started'), r.load('killed'), r.load('killed_status')
    assert 'warning' not in started and started['state'] == 'running', started
    assert killed['ansible_job_id'] == started['ansible_job_id'], killed
    assert killed['killed'] is True and killed['state'] == 'killed', killed
    # the one difference: the role's status of a killed job did not fail the task
    assert status['killed'] is True and status['state'] == 'killed', status
    assert status['failed'] is True and 'killed by asyncjobs.named.async_kill' in status['msg']
    assert_flag(ansible_version, status, 'finished', True)
    ok = r.load('ok')
    assert (ok['failed'], ok['state'], ok['stdout'], ok['attached']) == (
        False, 'succeeded', 'Hello', False), ok
    assert 'warning' not in ok, ok
