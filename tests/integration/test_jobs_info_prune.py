# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""async_jobs_info and async_prune with real ansible-playbook runs, locally and over SSH with
become to an unprivileged user (the become user's async dir): listing every kind of job,
name and claim; filters; pruning with check mode first (byte for byte); bad durations;
1,000 jobs listed. The removal rules one by one are unit tests (_host/test_prune.py)."""

import json
import os
import time

import pytest

from _async_task_lib import MITOGEN, wait_for, wrapper_processes
from _jobs_lib import snapshot, write_json


def _gate(test_dirs):
    gate = test_dirs.root / 'gate'
    gate.write_text('', encoding='utf-8')
    os.chmod(str(gate), 0o644)
    return gate


def _fresh_claim(async_dir):
    """A claim on the name 'starting' made now (of a start in progress: kept by a prune),
    owned as the async dir is."""
    path = os.path.join(async_dir, '.jid_starting.claim')
    write_json(path, {'token': 't', 'time': time.time(), 'pid': 1, 'jid_prefix': 'j123'})
    st = os.stat(async_dir)
    os.lchown(path, st.st_uid, st.st_gid)


def _by_id(jobs):
    return dict((j['ansible_job_id'], j) for j in jobs)


@pytest.mark.parametrize('where', ['local', pytest.param('ssh', marks=pytest.mark.matrix)])
def test_list_then_prune(request, where, run_playbook, test_dirs, async_dir):
    gate = _gate(test_dirs)
    evars = {'gate': str(gate)}
    if where == 'ssh':
        request.getfixturevalue('ssh_target')
        evars['as_job_user'] = True
    try:
        r = run_playbook('jobs_info_prune.yml', inventory=where, extra_vars=dict(evars, phase='start'))
        start = r.load('start')
        done_jid = start['started']['results'][0]['ansible_job_id']
        run_jid = start['started']['results'][1]['ansible_job_id']
        native_jid = start['native']['ansible_job_id']
        # What no live job leaves for long: a claim, a dangling name, a timed-out job, a
        # temp file of an interrupted write, a foreign file; all as the job user's.
        write_json(os.path.join(async_dir, 'j100000000001.1'),
                   {'msg': 'Timeout exceeded', 'failed': True, 'child_pid': 1})
        os.symlink('j100000000009.9', os.path.join(async_dir, 'jid_dangling'))
        _fresh_claim(async_dir)
        write_json(os.path.join(async_dir, 'notes.txt'), {'mine': True})
        if where == 'ssh':
            uid = os.stat(async_dir).st_uid
            for name in os.listdir(async_dir):
                os.lchown(os.path.join(async_dir, name), uid, uid)

        r = run_playbook('jobs_info_prune.yml', inventory=where, extra_vars=dict(evars, phase='list'))
        everything, named_running = r.load('everything'), r.load('named_running')
        jobs = _by_id(everything['jobs'])
        assert sorted(jobs) == sorted([done_jid, run_jid, native_jid, 'j100000000001.1'])
        assert jobs[run_jid]['state'] == 'running' and jobs[run_jid]['aliases'] == ['running-job']
        assert jobs[run_jid]['pids'] and jobs[run_jid]['end_time'] is None
        logs = {}
        for jid in (done_jid, run_jid):
            with open(os.path.join(async_dir, '.%s.meta' % jid)) as f:
                logs[jid] = json.load(f)['output']
        assert 'stdout_tail' not in jobs[done_jid]
        if MITOGEN:  # no output log (NO_OUTPUT_UNDER_MITOGEN)
            assert logs == {done_jid: None, run_jid: None}
            assert 'stdout_tail' not in jobs[run_jid]
        else:  # the tail of a running job's output
            assert jobs[run_jid]['stdout_tail'] == ['working']
            assert jobs[run_jid]['stderr_tail'] == ['warned']
        assert jobs[run_jid]['what'] == ('shell: echo working; echo warned >&2; while [ -e %s ]; '
                                         'do sleep 0.1; done' % gate)
        assert jobs[done_jid]['state'] == 'succeeded' and jobs[done_jid]['rc'] == 0
        assert jobs[done_jid]['aliases'] == ['done-job']
        assert jobs[done_jid]['start_time'] and jobs[done_jid]['end_time']
        assert jobs[native_jid]['aliases'] == [] and jobs[native_jid]['what'] == 'shell: echo native'
        assert jobs['j100000000001.1']['state'] == 'timed_out'
        for job in everything['jobs']:
            assert job['results_file'] == os.path.join(async_dir, job['ansible_job_id'])
            assert job['size'] == os.path.getsize(job['results_file'])
        names = dict((n['name'], n) for n in everything['names'])
        assert names['dangling']['dangling'] is True and names['running-job']['job'] == run_jid
        assert [c['name'] for c in everything['claims']] == ['starting']
        assert [j['ansible_job_id'] for j in named_running['jobs']] == [run_jid]
        assert named_running['changed'] is False
        assert [j['ansible_job_id'] for j in r.load('by_pattern')['jobs']] == [done_jid]

        # Fresh again for the two runs that judge it: a claim is stale after 60 s, and on a
        # loaded host the runs above took that long (seen: the whole test in 71 s).
        _fresh_claim(async_dir)
        before = snapshot(async_dir)
        r = run_playbook('jobs_info_prune.yml', inventory=where, extra_vars=dict(evars, phase='would'))
        would, bad = r.load('would'), r.load('bad')
        assert snapshot(async_dir) == before  # check mode and bad input changed nothing
        r = run_playbook('jobs_info_prune.yml', inventory=where, extra_vars=dict(evars, phase='prune'))
        pruned = r.load('pruned')
    finally:
        gate.unlink()
    # the real run removed what check mode said it would
    assert would['removed'] == pruned['removed'] and pruned['changed'] is True
    assert would['changed'] is True

    def at(name):
        return os.path.join(async_dir, name)

    expected = [at(done_jid), at(native_jid), at('j100000000001.1'), at('jid_dangling'),
                at('.%s.meta' % done_jid), at('jid_done-job'), at('.jid_done-job.lock')]
    expected += [at(logs[done_jid])] if logs[done_jid] else []
    assert pruned['removed'] == sorted(expected)
    assert pruned['kept_running'] == 1
    left = sorted(os.listdir(async_dir))
    assert run_jid in left and 'jid_running-job' in left and 'notes.txt' in left
    assert not logs[run_jid] or logs[run_jid] in left  # the running job's log stays
    assert '.jid_starting.claim' in left  # fresh: kept
    for res in bad:
        assert res['failed'] is True
        assert res['msg'] == ('older_than: invalid duration %r: give a number of seconds, or a '
                              'number followed by s, m, h or d (30s, 15m, 12h, 7d)' % res['item'])
    wait_for(lambda: not wrapper_processes(run_jid), 30, 'the running job to end')


def test_a_thousand_jobs(run_playbook, async_dir):
    os.makedirs(async_dir)
    for i in range(1000):
        jid = 'j%d.1' % (200000000000 + i)
        write_json(os.path.join(async_dir, jid), {'rc': 0, 'stdout': str(i)})
        if i % 10 == 0:
            os.symlink(jid, os.path.join(async_dir, 'jid_n%d' % i))
    started = time.time()
    r = run_playbook('jobs_info_prune.yml', extra_vars={'gate': '/nonexistent', 'phase': 'list'})
    took = time.time() - started
    everything = r.load('everything')
    assert len(everything['jobs']) == 1000 and len(everything['names']) == 100
    assert all(j['state'] == 'succeeded' for j in everything['jobs'])
    assert len(r.load('by_pattern')['jobs']) == 0
    print('listing 1000 jobs (3 listings in one playbook): %.1f s' % took)
    json.dumps(everything)
