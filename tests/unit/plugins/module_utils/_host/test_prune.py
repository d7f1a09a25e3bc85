# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_host.prune.prune (async_prune) on real async dirs: each removal rule, each thing it must
never remove (a running job, a fresh claim, a foreign file, a symlink out of the dir, a
directory), check mode byte for byte, keep, states and alias filters; and open_files, which
tells prune which stray output logs a process still writes."""

import os
import subprocess

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    prune as pruning, writes as changes)

from unit_helpers import make_link, make_proc, needs_proc, snapshot, write_claim, write_job

NOW = 1800000000.0
DAY = 86400.0
RUNNING = {'started': 1, 'finished': 0}
DONE = {'rc': 0, 'stdout': 'ok', 'changed': True}
FAILED = {'rc': 1, 'failed': True, 'msg': 'non-zero return code'}


def at(path, epoch):
    os.utime(path, (epoch, epoch), follow_symlinks=False)
    return path


def live(*jids):
    """A liveness_for where only ``jids`` run."""
    return lambda scanned: (lambda jid, owner_uid=None: (jid in jids, [1] if jid in jids else [],
                                                         None))


@pytest.fixture
def noproc(tmp_path):
    return make_proc(tmp_path / 'proc', {})


def run(async_dir, older_than=DAY, running=(), noproc=None, **kwargs):
    return pruning.prune(async_dir, older_than, liveness_for=live(*running), clock=lambda: NOW,
                         proc=noproc or '/nonexistent', **kwargs)


def p(async_dir, *names):
    return sorted(os.path.join(async_dir, n) for n in names)


def test_old_finished_jobs_go_with_everything_of_theirs(async_dir, noproc):
    at(write_job(async_dir, 'j1.1', DONE), NOW - 2 * DAY)
    make_link(async_dir, 'jid_build', 'j1.1')
    make_link(async_dir, 'j1.1.jid_old', 'j1.1')
    changes.write_meta(async_dir, 'j1.1', 'build', NOW - 3 * DAY, output='.output-ab.log')
    at(write_job(async_dir, '.output-ab.log', 'out: x\n'), NOW - 2 * DAY)
    at(write_job(async_dir, 'j1.1.tmp', ''), NOW - 2 * DAY)
    at(write_job(async_dir, '.j1.1.0123456789ab.tmp', '{}'), NOW - 2 * DAY)
    result = run(async_dir, noproc=noproc)
    assert result == dict(removed=p(async_dir, 'j1.1', 'jid_build', 'j1.1.jid_old', '.j1.1.meta',
                                    '.output-ab.log', 'j1.1.tmp', '.j1.1.0123456789ab.tmp'),
                          kept_running=0, changed=True)
    assert os.listdir(async_dir) == []


def test_recent_finished_jobs_stay(async_dir, noproc):
    at(write_job(async_dir, 'j1.1', DONE), NOW - DAY / 2)
    make_link(async_dir, 'jid_build', 'j1.1')
    before = snapshot(async_dir)
    assert run(async_dir, noproc=noproc)['removed'] == []
    assert snapshot(async_dir) == before


def test_running_jobs_are_never_removed(async_dir, noproc):
    at(write_job(async_dir, 'j1.1', RUNNING), NOW - 30 * DAY)
    make_link(async_dir, 'jid_build', 'j1.1')
    changes.write_meta(async_dir, 'j1.1', 'build', NOW - 30 * DAY)
    at(write_job(async_dir, 'j1.1.tmp', ''), NOW - 30 * DAY)  # 2.9-2.11 keep it open
    before = snapshot(async_dir)
    result = run(async_dir, older_than=0, running=['j1.1'], noproc=noproc)
    assert result == dict(removed=[], kept_running=1, changed=False)
    assert snapshot(async_dir) == before


def test_an_old_orphan_goes(async_dir, noproc):
    at(write_job(async_dir, 'j1.1', RUNNING), NOW - 2 * DAY)  # its wrapper is gone
    assert run(async_dir, noproc=noproc)['removed'] == p(async_dir, 'j1.1')


@pytest.mark.parametrize('states,gone', [
    (['failed'], ['j2.2']),
    (['succeeded'], ['j1.1']),
    (['timed_out'], []),
])
def test_states(async_dir, noproc, states, gone):
    at(write_job(async_dir, 'j1.1', DONE), NOW - 2 * DAY)
    at(write_job(async_dir, 'j2.2', FAILED), NOW - 2 * DAY)
    assert run(async_dir, states=states, noproc=noproc)['removed'] == p(async_dir, *gone)


def test_alias_patterns(async_dir, noproc):
    for jid, name in (('j1.1', 'backup-a'), ('j2.2', 'migrate'), ('j3.3', None)):
        at(write_job(async_dir, jid, DONE), NOW - 2 * DAY)
        if name:
            make_link(async_dir, 'jid_' + name, jid)
    result = run(async_dir, patterns=['backup-*'], noproc=noproc)
    assert result['removed'] == p(async_dir, 'j1.1', 'jid_backup-a')


def test_keep_the_newest_of_each_name(async_dir, noproc):
    """keep counts per name: names pointing at a job and the name it was started under."""
    for i in range(1, 6):
        jid = 'j%d.1' % i
        at(write_job(async_dir, jid, DONE), NOW - (10 - i) * DAY)  # j5.1 the newest
        changes.write_meta(async_dir, jid, 'nightly', NOW - (11 - i) * DAY)
    at(write_job(async_dir, 'j9.1', DONE), NOW - 9 * DAY)  # no name
    result = run(async_dir, keep=2, noproc=noproc)
    gone = ['j1.1', 'j2.1', 'j3.1', 'j9.1']
    assert result['removed'] == p(async_dir, *(gone + ['.%s.meta' % j for j in gone[:3]]))
    assert sorted(os.listdir(async_dir)) == ['.j4.1.meta', '.j5.1.meta', 'j4.1', 'j5.1']


def test_a_running_job_takes_no_kept_slot(async_dir, noproc):
    """keep counts finished jobs only: with keep 1, a name's one finished job stays beside
    its newer running one (a mutation that let running jobs into the count removed it)."""
    at(write_job(async_dir, 'j1.1', DONE), NOW - 5 * DAY)
    changes.write_meta(async_dir, 'j1.1', 'nightly', NOW - 6 * DAY)
    at(write_job(async_dir, 'j2.1', RUNNING), NOW - 2 * DAY)
    changes.write_meta(async_dir, 'j2.1', 'nightly', NOW - 2 * DAY)
    changes.set_alias(async_dir, 'nightly', 'j2.1', liveness=lambda jid, owner_uid=None: (
        jid == 'j2.1', [1], None))
    result = run(async_dir, keep=1, running=['j2.1'], noproc=noproc)
    assert result['removed'] == []
    assert sorted(os.listdir(async_dir)) == ['.j1.1.meta', '.j2.1.meta', 'j1.1', 'j2.1',
                                             'jid_nightly']


@pytest.mark.parametrize('keep, gone', [(0, ['j1.1', 'j2.1']), (1, ['j1.1']), (2, [])])
def test_keep_counts_each_name_of_a_job(async_dir, noproc, keep, gone):
    """A finished job kept for one name is kept, whatever its other names say."""
    at(write_job(async_dir, 'j1.1', DONE), NOW - 5 * DAY)
    at(write_job(async_dir, 'j2.1', DONE), NOW - 4 * DAY)
    changes.write_meta(async_dir, 'j1.1', 'a', NOW - 6 * DAY)
    changes.write_meta(async_dir, 'j2.1', 'a', NOW - 5 * DAY)
    result = run(async_dir, keep=keep, noproc=noproc)
    assert [os.path.basename(r) for r in result['removed'] if not r.endswith('.meta')] == gone


def test_dangling_and_outside_names_go_whatever_the_age(async_dir, outside, noproc):
    make_link(async_dir, 'jid_gone', 'j9.9')
    make_link(async_dir, 'jid_out', os.path.join(outside, 'secret'))
    make_link(async_dir, 'j8.8.jid_old', 'j8.8')
    with open(os.path.join(outside, 'secret'), 'w') as f:
        f.write('never touched')
    result = run(async_dir, older_than=1000 * DAY, noproc=noproc)
    assert result['removed'] == p(async_dir, 'jid_gone', 'jid_out', 'j8.8.jid_old')
    assert os.listdir(outside) == ['secret']  # a link is removed, never followed


def test_lock_files_of_unused_names_go(async_dir, noproc):
    for name in ('unused', 'named', 'claimed', 'legacy'):
        open(os.path.join(async_dir, '.jid_%s.lock' % name), 'w').close()
    write_job(async_dir, 'j1.1', RUNNING)
    make_link(async_dir, 'jid_named', 'j1.1')
    make_link(async_dir, 'j1.1.jid_legacy', 'j1.1')
    write_claim(async_dir, 'claimed', 'tok', when=NOW)
    result = run(async_dir, older_than=1000 * DAY, running=['j1.1'], noproc=noproc)
    assert result['removed'] == p(async_dir, '.jid_unused.lock')


def test_the_lock_of_a_name_it_removes_goes_too(async_dir, noproc):
    open(os.path.join(async_dir, '.jid_gone.lock'), 'w').close()
    make_link(async_dir, 'jid_gone', 'j9.9')
    assert run(async_dir, noproc=noproc)['removed'] == p(async_dir, '.jid_gone.lock', 'jid_gone')


def test_claims(async_dir, noproc):
    """A fresh claim stays; an old one whose job is nowhere goes; an old one-step claim
    whose job exists stays (the next async_task names it)."""
    write_claim(async_dir, 'fresh', 'a', when=NOW - 5)
    at(os.path.join(async_dir, '.jid_fresh.claim'), NOW - 5)
    write_claim(async_dir, 'dead', 'b', when=NOW - 3600)
    at(os.path.join(async_dir, '.jid_dead.claim'), NOW - 3600)
    write_claim(async_dir, 'started', 'c', when=NOW - 3600, jid_prefix='j77')
    at(os.path.join(async_dir, '.jid_started.claim'), NOW - 3600)
    at(write_job(async_dir, 'j77.1', RUNNING), NOW - 3600)
    result = run(async_dir, older_than=1000 * DAY, running=['j77.1'], noproc=noproc)
    assert result['removed'] == p(async_dir, '.jid_dead.claim')


def test_a_claim_whose_lock_is_held_stays(async_dir, noproc):
    write_claim(async_dir, 'busy', 'a', when=NOW - 3600, jid_prefix='j77')
    at(os.path.join(async_dir, '.jid_busy.claim'), NOW - 3600)
    with changes.alias_lock(async_dir, 'busy'):
        assert run(async_dir, older_than=1000 * DAY, noproc=noproc)['removed'] == []


def test_temp_files_and_metas_of_vanished_jobs(async_dir, noproc):
    at(write_job(async_dir, 'j1.1.tmp', ''), NOW - 2 * DAY)
    at(write_job(async_dir, '.jid_x.0123456789ab.tmp', ''), NOW - 2 * DAY)
    at(write_job(async_dir, 'j2.2.tmp', ''), NOW - 60)  # too young
    changes.write_meta(async_dir, 'j3.3', 'x', NOW)  # its job file is gone
    result = run(async_dir, noproc=noproc)
    assert result['removed'] == p(async_dir, 'j1.1.tmp', '.jid_x.0123456789ab.tmp', '.j3.3.meta')


def test_foreign_files_and_directories_are_never_removed(async_dir, noproc):
    for name in ('notes.txt', 'j1', 'jid_', '.hidden', 'jid_x.bak'):
        at(write_job(async_dir, name, 'x'), NOW - 100 * DAY)
    os.mkdir(os.path.join(async_dir, 'j5.5'))  # a directory named like a job
    os.mkdir(os.path.join(async_dir, 'jid_dir'))
    before = snapshot(async_dir)
    assert run(async_dir, older_than=0, noproc=noproc)['removed'] == []
    assert snapshot(async_dir) == before


def test_check_mode_removes_nothing_byte_for_byte(async_dir, noproc):
    at(write_job(async_dir, 'j1.1', DONE), NOW - 2 * DAY)
    make_link(async_dir, 'jid_build', 'j1.1')
    make_link(async_dir, 'jid_gone', 'j9.9')
    open(os.path.join(async_dir, '.jid_old.lock'), 'w').close()
    at(write_job(async_dir, 'j2.2.tmp', ''), NOW - 2 * DAY)
    before = snapshot(async_dir)
    mtimes = dict((n, os.lstat(os.path.join(async_dir, n)).st_mtime) for n in os.listdir(async_dir))
    checked = run(async_dir, check_mode=True, noproc=noproc)
    assert snapshot(async_dir) == before
    assert dict((n, os.lstat(os.path.join(async_dir, n)).st_mtime)
                for n in os.listdir(async_dir)) == mtimes
    # and it reports exactly what the real run removes
    assert run(async_dir, noproc=noproc) == checked


def test_missing_async_dir(tmp_path, noproc):
    assert run(str(tmp_path / 'nope'), noproc=noproc) == dict(removed=[], kept_running=0,
                                                              changed=False)


# --- output logs --------------------------------------------------------------------------------

def log(async_dir, token, when):
    return at(write_job(async_dir, '.output-%s.log' % token, 'out: x\n'), when)


def test_output_logs_of_no_job_go_once_old(async_dir, noproc):
    log(async_dir, 'old', NOW - 2 * DAY)   # no meta names it (its start never wrote one)
    log(async_dir, 'young', NOW - 60)
    changes.write_meta(async_dir, 'j3.3', 'x', NOW, output='.output-gone.log')
    log(async_dir, 'gone', NOW - 2 * DAY)  # its job file is gone, and its meta goes
    result = run(async_dir, noproc=noproc)
    assert result['removed'] == p(async_dir, '.output-old.log', '.output-gone.log', '.j3.3.meta')
    assert sorted(os.listdir(async_dir)) == ['.output-young.log']


def test_output_log_of_a_job_goes_only_with_the_job(async_dir, noproc):
    write_job(async_dir, 'j1.1', RUNNING)
    changes.write_meta(async_dir, 'j1.1', 'build', NOW - 3 * DAY, output='.output-run.log')
    log(async_dir, 'run', NOW - 3 * DAY)  # silent for days, but its job runs
    at(write_job(async_dir, 'j2.2', DONE), NOW - 60)
    changes.write_meta(async_dir, 'j2.2', 'test', NOW - 120, output='.output-done.log')
    log(async_dir, 'done', NOW - 3 * DAY)  # its job ended too recently
    assert run(async_dir, running=['j1.1'], noproc=noproc)['removed'] == []
    assert run(async_dir, older_than=30, running=['j1.1'], noproc=noproc)['removed'] == p(
        async_dir, 'j2.2', '.j2.2.meta', '.output-done.log')


def test_a_meta_never_leads_out_of_the_dir(async_dir, tmp_path, noproc):
    outside = tmp_path / 'outside.log'
    outside.write_text('keep')
    at(write_job(async_dir, 'j1.1', DONE), NOW - 2 * DAY)
    changes.write_meta(async_dir, 'j1.1', 'build', NOW - 3 * DAY, output=str(outside))
    assert run(async_dir, noproc=noproc)['removed'] == p(async_dir, 'j1.1', '.j1.1.meta')
    assert outside.read_text() == 'keep'


@needs_proc
def test_an_output_log_a_process_has_open_stays(async_dir):
    path = log(async_dir, 'busy', NOW - 2 * DAY)
    with open(path, 'a') as f:
        writer = subprocess.Popen(['sleep', '60'], stdout=f)
    try:
        at(path, NOW - 2 * DAY)
        assert run(async_dir, noproc='/proc')['removed'] == []
    finally:
        writer.kill()
        writer.wait()
    assert run(async_dir, noproc='/proc')['removed'] == [path]


def test_without_proc_no_output_log_of_no_job_goes(async_dir):
    log(async_dir, 'old', NOW - 2 * DAY)
    assert run(async_dir, noproc='/nonexistent')['removed'] == []


def test_alias_patterns_leave_output_logs_of_no_job(async_dir, noproc):
    log(async_dir, 'old', NOW - 2 * DAY)
    assert run(async_dir, patterns=['build*'], noproc=noproc)['removed'] == []


# --- open_files --------------------------------------------------------------------------------

@needs_proc
def test_open_files_real(tmp_path):
    busy, idle, missing = tmp_path / 'busy.log', tmp_path / 'idle.log', tmp_path / 'gone.log'
    busy.write_text('x')
    idle.write_text('y')
    with open(str(busy), 'a') as f:
        writer = subprocess.Popen(['sleep', '60'], stdout=f)
    try:
        assert pruning.open_files([str(busy), str(idle), str(missing)]) == {str(busy)}
        # reached through a symlinked dir: the same file
        os.symlink(str(tmp_path), str(tmp_path / 'via'))
        via = str(tmp_path / 'via' / 'busy.log')
        assert pruning.open_files([via]) == {via}
    finally:
        writer.kill()
        writer.wait()
    assert pruning.open_files([str(busy)]) == set()


def test_open_files_nothing_to_look_for(tmp_path):
    assert pruning.open_files([str(tmp_path / 'nope')]) == set()
    assert pruning.open_files([]) == set()


def test_open_files_unknown_without_proc(tmp_path):
    (tmp_path / 'a.log').write_text('x')
    assert pruning.open_files([str(tmp_path / 'a.log')], proc=str(tmp_path / 'noproc')) is None
