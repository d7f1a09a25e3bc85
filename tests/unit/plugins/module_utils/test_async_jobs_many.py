# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several jobs at once (the ``jobs`` option): job_refs, job_statuses, liveness_snapshot,
resolve_refs, wait_for_all and cleanup_many, on real files and fake proc trees."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils import _async_changes as changes
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_files as files
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_names as names
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_procs as procs
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_wait as waiting

from unit_helpers import (alive, dead, FakeClock, make_proc, never, proc_mounts_line, snapshot,
                          wrapper_argv, write_job)

J1, J2, J3 = 'j111.1', 'j222.2', 'j333.3'
RUNNING = {'started': 1, 'finished': 0}
DONE = {'rc': 0, 'stdout': 'done'}
FAILED = {'rc': 2, 'failed': True, 'msg': 'non-zero return code'}


def result(jid, **extra):
    """A registered async result, as an async task with poll 0 returns it."""
    return dict(dict(ansible_job_id=jid, started=1, finished=0, results_file='/x/' + jid,
                     changed=True), **extra)


# --- job_refs ---------------------------------------------------------------------------------

@pytest.mark.parametrize('jobs,refs', [
    ([J1, J2], [dict(jid=J1), dict(jid=J2)]),
    (['build', 'deploy.1'], [dict(alias='build'), dict(alias='deploy.1')]),
    ([result(J2), result(J1)], [dict(jid=J2), dict(jid=J1)]),
    (dict(results=[result(J1), result(J2)], changed=True), [dict(jid=J1), dict(jid=J2)]),
    ((J1,), [dict(jid=J1)]),
    ([dict(jid=J1), dict(alias='build'), dict(jid=J2, alias='x')],
     [dict(jid=J1), dict(alias='build'), dict(jid=J2, alias='x')]),
    ([dict(jid=J1, alias=None)], [dict(jid=J1)]),
    # an async_task result has a name too: it is waited for by its job id
    ([result(J1, ansible_job_alias='build')], [dict(jid=J1)]),
])
def test_job_refs(jobs, refs):
    assert names.job_refs(jobs) == refs


@pytest.mark.parametrize('jobs,msg', [
    ([], 'jobs is empty: give at least one job'),
    (dict(results=[]), 'jobs is empty: give at least one job'),
    ('j1.2', "jobs must be a list (of job ids, names or registered async results) or a loop's "
             "registered result, not a string"),
    (42, "jobs must be a list (of job ids, names or registered async results) or a loop's "
         "registered result, not a number"),
    (dict(ansible_job_id=J1), "jobs must be a list (of job ids, names or registered async "
                              "results) or a loop's registered result, not a dict"),
    ([J1, 'build'], 'jobs[1] is a name, but jobs[0] is a job id: give the jobs in one form'),
    (['build', result(J1)], 'jobs[1] is a registered async result, but jobs[0] is a name: give '
                            'the jobs in one form'),
    ([dict(jid=J1), J2], 'jobs[1] is a job id, but jobs[0] is a dict with jid and/or alias: '
                         'give the jobs in one form'),
    ([J1, J2, J1], 'jobs[2] is the same job as jobs[0] (job id %s): give each job once' % J1),
    (['a', 'a'], 'jobs[1] is the same job as jobs[0] (name a): give each job once'),
    ([result(J1), dict(skipped=True, changed=False)],
     'jobs[1] is not an async job result: it has no ansible_job_id (the task that registered '
     'it was skipped)'),
    ([dict(rc=0, changed=False)], 'jobs[0] is not an async job result: it has no ansible_job_id'),
    ([result('j1.x')], 'jobs[0]: invalid jid \'j1.x\': a job id looks like "j123456789012.4242" '
                       '(optional "j", digits, ".", digits)'),
    (['build', '../etc'], 'jobs[1]: invalid alias \'../etc\': use only letters, digits, "_", '
                          '"-" and ".", not starting with ".", at most 128 characters'),
    ([J1, None], 'jobs[1] is null, not a job id, a name or a registered async result'),
    ([J1, 3], 'jobs[1] is a number, not a job id, a name or a registered async result'),
    ([[J1]], 'jobs[0] is a list, not a job id, a name or a registered async result'),
    ([dict(jid=None, alias=None)], 'jobs[0] gives neither jid nor alias'),
])
def test_job_refs_refused(jobs, msg):
    with pytest.raises(names.JobError) as exc:
        names.job_refs(jobs)
    assert exc.value.msg == msg


# --- job_statuses, liveness_snapshot -----------------------------------------------------------

def test_job_statuses_one_scan_for_all(async_dir, tmp_path):
    for jid, data in ((J1, RUNNING), (J2, DONE), (J3, RUNNING)):
        write_job(async_dir, jid, dict(data, ansible_job_id=jid) if data is RUNNING else data)
    os.symlink(J1, os.path.join(async_dir, 'jid_build'))
    scans = []

    def liveness_for(jids):
        scans.append(sorted(jids))
        return lambda jid, owner_uid=None: (jid == J1, [1] if jid == J1 else [], None)

    statuses = files.job_statuses(async_dir, [dict(alias='build'), dict(jid=J2), dict(jid=J3),
                                           dict(alias='gone')], liveness_for=liveness_for)
    assert scans == [sorted([J1, J2, J3])]
    assert [s['state'] for s in statuses] == ['running', 'succeeded', 'orphaned', 'absent']
    assert [s.get('ansible_job_alias') for s in statuses] == ['build', None, None, 'gone']


def test_job_statuses_names_the_entry(async_dir):
    write_job(async_dir, J1, DONE)
    with pytest.raises(names.JobError) as exc:
        files.job_statuses(async_dir, [dict(jid=J1), dict(jid=J2, alias='x')],
                        liveness_for=lambda jids: never)
    assert exc.value.msg == 'jobs[1] (x, %s): could not find job' % J2
    assert exc.value.result['ansible_job_id'] == J2


def test_liveness_snapshot_scans_once(tmp_path):
    proc = make_proc(tmp_path / 'proc', {10: wrapper_argv('j111'), 11: wrapper_argv('j111'),
                                           12: wrapper_argv('j999'), 13: ['sleep', '9']})
    live = procs.liveness_snapshot([J1, J2], proc)
    os.rename(os.path.join(proc, '10'), os.path.join(proc, 'gone'))  # the scan is done
    assert live(J1) == (True, [10, 11], None)
    assert live(J2) == (False, [], None)
    # a jid it was not asked about: scanned on its own, now
    assert live('j999.9') == (True, [12], None)


def test_liveness_snapshot_unknown_with_hidepid(tmp_path, monkeypatch):
    proc = make_proc(tmp_path / 'proc', {},
                       mounts=proc_mounts_line(str(tmp_path / 'proc'), 'rw,hidepid=2'))
    monkeypatch.setattr(os, 'geteuid', lambda: 1000)
    live = procs.liveness_snapshot([J1], proc)
    assert live(J1, owner_uid=1000) == (False, [], None)
    alive, pids, why = live(J1, owner_uid=0)
    assert (alive, pids) == (None, []) and 'no permission' in why


# --- resolve_refs, wait_for_all ---------------------------------------------------------------

def test_resolve_refs(async_dir):
    write_job(async_dir, J1, DONE)
    write_job(async_dir, J2, DONE)
    os.symlink(J2, os.path.join(async_dir, 'jid_b'))
    assert waiting.resolve_refs(async_dir, [dict(jid=J1), dict(alias='b')]) == [J1, J2]
    with pytest.raises(names.JobError) as exc:
        waiting.resolve_refs(async_dir, [dict(alias='b'), dict(jid=J2)])
    assert exc.value.msg == 'jobs[1] (%s) is the same job as jobs[0] (b): give each job once' % J2
    with pytest.raises(names.JobError) as exc:
        waiting.resolve_refs(async_dir, [dict(jid=J1), dict(alias='nope')])
    assert exc.value.msg == "jobs[1] (nope): no job named 'nope' in %s" % async_dir


def test_wait_for_all_until_each_ends(async_dir):
    for jid in (J1, J2, J3):
        write_job(async_dir, jid, RUNNING)
    ends = {2: (J2, DONE), 4: (J1, FAILED), 7: (J3, DONE)}
    c = FakeClock(on_sleep=lambda n: n in ends and write_job(async_dir, *ends[n]))
    scans = []

    def liveness_for(jids):
        scans.append(sorted(jids))
        return alive

    statuses = waiting.wait_for_all(async_dir, [J1, J2, J3], 60, liveness_for=liveness_for,
                               clock=c.clock, sleep=c.sleep, interval=0.5, liveness_interval=10)
    assert [s['state'] for s in statuses] == ['failed', 'succeeded', 'succeeded']
    assert [s['ansible_job_id'] for s in statuses] == [J1, J2, J3]
    assert len(c.sleeps) == 7 and all(s['waited'] == 3.5 for s in statuses)
    assert scans == [[J1, J2, J3]]  # no liveness round was due


def test_wait_for_all_checks_liveness_of_the_running_only(async_dir):
    write_job(async_dir, J1, RUNNING)
    write_job(async_dir, J2, DONE)
    c = FakeClock()
    scans = []

    def liveness_for(jids):
        scans.append(sorted(jids))
        return dead if len(scans) > 1 else alive

    statuses = waiting.wait_for_all(async_dir, [J1, J2], 60, liveness_for=liveness_for, clock=c.clock,
                               sleep=c.sleep, interval=0.5, liveness_interval=1)
    assert [s['state'] for s in statuses] == ['orphaned', 'succeeded']
    assert scans == [[J1, J2], [J1]]


def test_wait_for_all_budget(async_dir):
    write_job(async_dir, J1, RUNNING)
    c = FakeClock()
    statuses = waiting.wait_for_all(async_dir, [J1], 2, liveness_for=lambda jids: alive,
                               clock=c.clock, sleep=c.sleep, interval=0.5, liveness_interval=1)
    assert statuses[0]['state'] == 'running' and statuses[0]['waited'] == 2.0


# --- cleanup_many -----------------------------------------------------------------------------

def test_cleanup_many(async_dir):
    write_job(async_dir, J1, DONE)
    write_job(async_dir, J2, DONE)
    os.symlink(J1, os.path.join(async_dir, 'jid_a'))
    results = changes.cleanup_many(async_dir, 'cleanup', [dict(alias='a'), dict(jid=J2)],
                               liveness=never)
    assert [r['erased'] for r in results] == [[os.path.join(async_dir, 'jid_a')],
                                             os.path.join(async_dir, J2)]
    assert sorted(os.listdir(async_dir)) == [J1]


@pytest.mark.parametrize('refs,msg', [
    ([dict(jid=J1), dict(jid=J3)], 'jobs[1] (%s): could not find job' % J3),
    ([dict(jid=J1), dict(alias='r')], "jobs[1] (r): job %s (alias 'r') is still running; "
                                      'refusing to remove its job file and aliases, because a '
                                      're-run would then start a duplicate. Use force: true to '
                                      'remove it anyway.' % J2),
    ([dict(alias='r'), dict(jid=J2)], 'jobs[1] (%s) is the same job as jobs[0] (r): give each '
                                      'job once' % J2),
])
def test_cleanup_many_refused_changes_nothing(async_dir, refs, msg):
    write_job(async_dir, J1, DONE)
    write_job(async_dir, J2, RUNNING)
    os.symlink(J2, os.path.join(async_dir, 'jid_r'))
    before = snapshot(async_dir)
    with pytest.raises(names.JobError) as exc:
        changes.cleanup_many(async_dir, 'full_cleanup', refs, liveness=alive)
    assert exc.value.msg == msg
    assert snapshot(async_dir) == before


def test_cleanup_many_check_mode(async_dir):
    write_job(async_dir, J1, DONE)
    before = snapshot(async_dir)
    results = changes.cleanup_many(async_dir, 'full_cleanup', [dict(jid=J1)], check_mode=True,
                               liveness=never)
    assert results[0]['erased'] == [os.path.join(async_dir, J1)]
    assert snapshot(async_dir) == before
