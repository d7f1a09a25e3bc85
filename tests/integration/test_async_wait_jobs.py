# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``jobs`` option of async_wait and async_status_id with real ansible-playbook runs:
a loop's jobs waited for (and reported) in one task, in every form of the option, the
results in the given order, a failed job failing the task by name; bad lists, which fail
naming the entry and wait for nothing and change nothing."""

import json
import os
import time

import pytest

from _core import NON_ZERO_RC_MSG
from _async_task_lib import (alias_target, always_keys, assert_always, background_starter,
                             job_file, lines, wait_for, wrapper_processes)
from _jobs_lib import check_status_return, return_spec, snapshot


@pytest.fixture
def start_playbook(request, ansible_playbook, installed_collection, session_dir, test_dirs):
    """ansible-playbook in the background: see _async_task_lib.background_starter."""
    return background_starter(request, ansible_playbook, installed_collection, session_dir,
                              test_dirs)


def _gate(test_dirs):
    gate = test_dirs.root / 'gate'
    gate.write_text('', encoding='utf-8')
    os.chmod(str(gate), 0o644)
    return gate


def test_wait_and_status_of_a_loops_jobs(run_playbook, async_dir, test_dirs, installed_collection,
                                         ansible_version):
    gate = _gate(test_dirs)
    counter = test_dirs.root / 'counter'
    r = run_playbook('wait_jobs.yml', extra_vars={'gate': str(gate), 'counter': str(counter)})
    native = [j['ansible_job_id'] for j in r.load('native')]
    named = [j['ansible_job_id'] for j in r.load('named')]
    wait_keys = always_keys(installed_collection, 'async_wait')
    status_spec = return_spec(installed_collection, 'async_status_id')

    # one status call for all three, while they ran; each entry as a call for that job alone
    running = r.load('running')
    check_status_return(status_spec, running, ansible_version, by='jid', jobs=True)
    assert [x['ansible_job_id'] for x in running['results']] == native
    for x in running['results']:
        check_status_return(status_spec, x, ansible_version, by='jid')
        assert x['state'] == 'running'
        assert x['results_file'] == os.path.join(async_dir, x['ansible_job_id'])
    assert running['failed'] is False

    # the loop's result: in order; the task failed because job 2 failed, and says so
    by_loop = r.load('by_loop')
    assert [x['ansible_job_id'] for x in by_loop['results']] == native
    assert [x['state'] for x in by_loop['results']] == ['succeeded', 'failed', 'succeeded']
    assert [x['stdout'] for x in by_loop['results']] == ['job-1', 'job-2', 'job-3']
    assert [x['stdout_lines'] for x in by_loop['results']] == [['job-1'], ['job-2'], ['job-3']]
    assert by_loop['results'][1]['rc'] == 3 and by_loop['results'][1]['failed'] is True
    assert by_loop['failed'] is True
    assert by_loop['msg'] == '1 of 3 jobs failed: %s: %s' % (native[1], NON_ZERO_RC_MSG)
    for x in by_loop['results']:
        assert_always(x, wait_keys, 'by_loop')
        assert x['released'] == [] and x['waited'] >= 0

    # async_task's loop, by the name of its variable; names kept (cleanup: false)
    by_var = r.load('by_var')
    assert [x['ansible_job_id'] for x in by_var['results']] == named
    assert [x['stdout'] for x in by_var['results']] == ['job-a', 'job-b']
    assert by_var['failed'] is False and 'msg' not in by_var

    # a list of registered results, in the given order
    by_results = r.load('by_results')
    assert [x['ansible_job_id'] for x in by_results['results']] == [native[2], native[0]]
    assert by_results['failed'] is False

    # job ids, reversed: the order given is kept; the failed one named in the message
    by_jids = r.load('by_jids')
    assert [x['ansible_job_id'] for x in by_jids['results']] == native[::-1]
    assert by_jids['msg'] == '1 of 3 jobs failed: %s: %s' % (native[1], NON_ZERO_RC_MSG)

    # names, freed by the wait (cleanup: true)
    by_names = r.load('by_names')
    assert [x['ansible_job_id'] for x in by_names['results']] == named[::-1]
    assert [x['ansible_job_alias'] for x in by_names['results']] == ['named-b', 'named-a']
    assert [x['released'] for x in by_names['results']] == [
        [os.path.join(async_dir, 'jid_named-b')], [os.path.join(async_dir, 'jid_named-a')]]
    assert alias_target(async_dir, 'named-a') is None and alias_target(async_dir, 'named-b') is None
    gone = r.load('gone')
    assert [x['state'] for x in gone['results']] == ['absent', 'absent']
    for x in gone['results']:
        check_status_return(status_spec, x, ansible_version, by='alias')

    # every job ran once; the job files stay
    assert sorted(lines(counter)) == ['1', '2', '3', 'a', 'b']
    for jid in native + named:
        assert 'rc' in job_file(async_dir, jid)


BAD = {
    'mixed_result_jid': 'jobs[1] is a job id, but jobs[0] is a registered async result: give '
                        'the jobs in one form',
    'mixed_jid_name': 'jobs[1] is a name, but jobs[0] is a job id: give the jobs in one form',
    'mixed_name_result': 'jobs[1] is a registered async result, but jobs[0] is a name: give the '
                         'jobs in one form',
    'empty': 'jobs is empty: give at least one job',
    'skipped_item': 'jobs[1] is not an async job result: it has no ansible_job_id (the task '
                    'that registered it was skipped)',
    'not_async': 'jobs[0] is not an async job result: it has no ansible_job_id',
    'duplicate_jid': 'jobs[1] is the same job as jobs[0] (job id {jid}): give each job once',
    'duplicate_result': 'jobs[1] is the same job as jobs[0] (job id {named}): give each job once',
    'same_job_twice': 'jobs[1] (bad-input-job) is the same job as jobs[0] ({named}): give each '
                      'job once',
    'unknown_name': "jobs[1] (no-such-name): no job named 'no-such-name' in {async_dir}",
    'unknown_jid': 'jobs[1] (j1.1): could not find job',
    'bad_name': 'jobs[1]: invalid alias \'../etc\': use only letters, digits, "_", "-" and '
                '".", not starting with ".", at most 128 characters',
    'not_a_list': 'jobs must be a list (of job ids, names or registered async results) or a '
                  "loop's registered result, not a number",
    'null_entry': 'jobs[1] is null, not a job id, a name or a registered async result',
    'undefined_var': "jobs: no variable named 'no_such_variable' is defined for this host; give "
                     "a list of job ids, names or registered async results, a loop's registered "
                     'result, or the name of a variable that holds one',
    'running_cleanup': 'jobs[0] ({jid}): job {jid} is still running; refusing to remove its job '
                       'file and aliases, because a re-run would then start a duplicate. Use '
                       'force: true to remove it anyway.',
}


def test_bad_jobs_lists_change_nothing(start_playbook, async_dir, test_dirs, out_dir,
                                       ansible_version):
    gate = _gate(test_dirs)
    run = start_playbook('jobs_bad_input.yml', extra_vars={'gate': str(gate)})
    try:
        wait_for((out_dir / 'named.json').exists, 120, 'the jobs to start', proc=run)
        time.sleep(0.5)
        before = snapshot(async_dir)
        started = time.time()
        (out_dir / 'go').write_text('', encoding='utf-8')
        assert run.wait(240) == 0, run.describe()
        took = time.time() - started
        after = snapshot(async_dir)
    finally:
        gate.unlink()
    assert after == before, 'a bad jobs list changed the async dir'
    # 16 failed calls, none of which waited its 30 s budget
    assert took < 30, took
    jid = json.loads((out_dir / 'partly.json').read_text())['results'][0]['ansible_job_id']
    named = json.loads((out_dir / 'named.json').read_text())['ansible_job_id']
    calls = {}
    for name in ('wait_calls', 'status_calls'):
        for res in json.loads((out_dir / ('%s.json' % name)).read_text()):
            if not res.get('skipped'):
                calls[res['item']['name']] = res
    assert sorted(calls) == sorted(BAD)
    for name, msg in BAD.items():
        assert calls[name]['failed'] is True, (name, calls[name])
        if name == 'not_a_list' and ansible_version < (2, 19):
            msg = msg.replace('a number', 'a string')  # templated "{{ 42 }}" is '42' there
        assert calls[name]['msg'] == msg.format(jid=jid, named=named, async_dir=async_dir), name
        assert 'results' not in calls[name], name
    wait_for(lambda: not wrapper_processes(jid) and not wrapper_processes(named), 30,
             'the jobs to end')
