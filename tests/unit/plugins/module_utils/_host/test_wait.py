# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/wait.py: which jobs, and waiting for them on
the host.

Covers resolve, resolve_refs, wait_for and wait_for_all, on real job files, and
still_wrappers and watching on fake proc trees and a real process. Waiting runs
on an injected fake clock and sleep (unit_helpers.FakeClock): the sleep moves the clock on
and may rewrite the job file at its n-th call, so no test really waits, except one that
checks the real clock and sleep with a thread finishing the job.
"""

import os
import threading
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    job_status as files, processes as procs, wait as waiting, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import (
    errors, job_model as model)

from unit_helpers import (alive, dead, FakeClock, make_link, make_proc, needs_proc, never, Recorder,
                          snapshot, write_job)


JID = 'j123456789012.4242'
OTHER = 'j999999999999.77'
RUNNING = {'started': 1, 'finished': 0, 'ansible_job_id': JID}
SUCCEEDED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'rc': 0, 'stdout': 'done',
             'changed': True}
FAILED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'rc': 3, 'failed': True,
          'msg': 'non-zero return code'}
KILLED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'killed': True, 'failed': True,
          'msg': 'killed'}
TIMED_OUT = {'msg': 'Timeout exceeded', 'failed': True, 'child_pid': 1}
# Several jobs: their tests had their own RUNNING and FAILED (without ansible_job_id); they
# look at the states and at the jids given, not at those keys.
J1, J2, J3 = 'j111.1', 'j222.2', 'j333.3'
DONE = {'rc': 0, 'stdout': 'done'}


# --- resolve -------------------------------------------------------------------------------------

def test_resolve_jid(async_dir):
    write_job(async_dir, JID, RUNNING)
    assert waiting.resolve(async_dir, jid=JID) == JID


def test_resolve_jid_wins_over_alias(async_dir):
    """With both (the modules forbid it), the jid is used and the alias ignored."""
    write_job(async_dir, JID, RUNNING)
    assert waiting.resolve(async_dir, jid=JID, alias='no-such-name') == JID


@pytest.mark.parametrize('content', [RUNNING, SUCCEEDED, '', 'not json'])
def test_resolve_jid_whatever_the_content(async_dir, content):
    write_job(async_dir, JID, content)
    assert waiting.resolve(async_dir, jid=JID) == JID


@pytest.mark.parametrize('missing_dir', [False, True])
def test_resolve_unknown_jid(tmp_path, async_dir, missing_dir):
    d = str(tmp_path / 'nowhere') if missing_dir else async_dir
    with pytest.raises(errors.JobError) as exc:
        waiting.resolve(d, jid=JID)
    assert exc.value.msg == 'could not find job'
    assert exc.value.result == {'ansible_job_id': JID, 'started': 1, 'finished': 1,
                                'results_file': os.path.join(d, JID)}


def test_resolve_alias(async_dir):
    write_job(async_dir, JID, RUNNING)
    make_link(async_dir, 'jid_build', JID)
    assert waiting.resolve(async_dir, alias='build') == JID


def test_resolve_alias_absolute_link(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, 'jid_build', os.path.join(async_dir, JID))
    assert waiting.resolve(async_dir, alias='build') == JID


def test_resolve_legacy_alias(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, JID + '.jid_build', JID)
    assert waiting.resolve(async_dir, alias='build') == JID


def test_resolve_primary_alias_before_legacy(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, OTHER, RUNNING)
    make_link(async_dir, JID + '.jid_build', JID)
    make_link(async_dir, 'jid_build', OTHER)
    assert waiting.resolve(async_dir, alias='build') == OTHER


def absent_error(alias, async_dir):
    return ('no job named %r in %s' % (alias, async_dir),
            {'ansible_job_alias': alias, 'started': 0, 'finished': 0, 'state': 'absent'})


@pytest.mark.parametrize('setup', ['nothing', 'dangling', 'dangling_legacy', 'other_name'])
def test_resolve_alias_absent(async_dir, setup):
    if setup == 'dangling':
        make_link(async_dir, 'jid_build', JID)
    elif setup == 'dangling_legacy':
        make_link(async_dir, JID + '.jid_build', JID)
    elif setup == 'other_name':
        write_job(async_dir, JID, RUNNING)
        make_link(async_dir, 'jid_build2', JID)
        make_link(async_dir, JID + '.jid_xbuild', JID)
    with pytest.raises(errors.JobError) as exc:
        waiting.resolve(async_dir, alias='build')
    assert (exc.value.msg, exc.value.result) == absent_error('build', async_dir)


def test_resolve_alias_missing_async_dir(tmp_path):
    d = str(tmp_path / 'nowhere')
    with pytest.raises(errors.JobError) as exc:
        waiting.resolve(d, alias='build')
    assert (exc.value.msg, exc.value.result) == absent_error('build', d)
    assert not os.path.exists(d)


def test_resolve_alias_outside_refused(async_dir, outside):
    target = write_job(outside, JID, RUNNING)
    make_link(async_dir, 'jid_build', target)
    with pytest.raises(errors.JobError) as exc:
        waiting.resolve(async_dir, alias='build')
    assert exc.value.msg.startswith("alias 'build' points outside the async dir")


# --- resolve_refs --------------------------------------------------------------------------------

def test_resolve_refs(async_dir):
    write_job(async_dir, J1, DONE)
    write_job(async_dir, J2, DONE)
    os.symlink(J2, os.path.join(async_dir, 'jid_b'))
    assert waiting.resolve_refs(async_dir, [dict(jid=J1), dict(alias='b')]) == [J1, J2]
    with pytest.raises(errors.JobError) as exc:
        waiting.resolve_refs(async_dir, [dict(alias='b'), dict(jid=J2)])
    assert exc.value.msg == 'jobs[1] (%s) is the same job as jobs[0] (b): give each job once' % J2
    with pytest.raises(errors.JobError) as exc:
        waiting.resolve_refs(async_dir, [dict(jid=J1), dict(alias='nope')])
    assert exc.value.msg == "jobs[1] (nope): no job named 'nope' in %s" % async_dir


# --- wait_for ------------------------------------------------------------------------------------

def no_sleep(seconds):
    raise AssertionError('must not sleep (%r)' % (seconds,))


@pytest.mark.parametrize('data,state', [
    (SUCCEEDED, 'succeeded'), (FAILED, 'failed'), (KILLED, 'killed'), (TIMED_OUT, 'timed_out'),
])
def test_wait_finished_returns_at_once(async_dir, data, state):
    write_job(async_dir, JID, data)
    c = FakeClock()
    status = waiting.wait_for(async_dir, JID, 3600, liveness=never, clock=c.clock, sleep=no_sleep)
    assert status['state'] == state
    assert status['finished'] == 1
    assert status['waited'] == 0
    assert status == dict(files.job_status(async_dir, jid=JID, liveness=never), waited=0)


def test_wait_orphaned_returns_at_once(async_dir):
    write_job(async_dir, JID, RUNNING)
    c = FakeClock()
    status = waiting.wait_for(async_dir, JID, 3600, liveness=dead, clock=c.clock, sleep=no_sleep)
    assert status['state'] == 'orphaned'
    assert status['waited'] == 0


def test_wait_unknown_jid(async_dir):
    c = FakeClock()
    with pytest.raises(errors.JobError) as exc:
        waiting.wait_for(async_dir, JID, 10, liveness=never, clock=c.clock, sleep=no_sleep)
    assert exc.value.msg == 'could not find job'


@pytest.mark.parametrize('n', [1, 3, 10])
@pytest.mark.parametrize('data,state', [(SUCCEEDED, 'succeeded'), (FAILED, 'failed'),
                                        (TIMED_OUT, 'timed_out')])
def test_wait_returns_when_job_finishes(async_dir, n, data, state):
    """The file is rewritten finished during the n-th sleep: the wait ends right after it,
    with no liveness scan (the file says finished)."""
    path = write_job(async_dir, JID, RUNNING)
    live = Recorder()

    def finish(count):
        if count == n:
            changes.atomic_write_json(path, data)

    c = FakeClock(on_sleep=finish)
    status = waiting.wait_for(async_dir, JID, 60, liveness=live, clock=c.clock, sleep=c.sleep,
                              interval=0.25, liveness_interval=1000)
    assert status['state'] == state
    assert status['finished'] == 1
    assert c.sleeps == [0.25] * n
    assert status['waited'] == 0.25 * n
    assert len(live.calls) == 1  # the first status only
    assert live.calls[0][0] == JID
    if data is SUCCEEDED:
        assert (status['rc'], status['stdout']) == (0, 'done')


def test_wait_times_out_leaving_running(async_dir):
    path = write_job(async_dir, JID, RUNNING)
    before = snapshot(async_dir)
    c = FakeClock()
    status = waiting.wait_for(async_dir, JID, 2, liveness=alive, clock=c.clock, sleep=c.sleep,
                              interval=0.25, liveness_interval=1)
    assert status['state'] == 'running'
    assert (status['started'], status['finished']) == (1, 0)
    assert status['results_file'] == path
    assert status['waited'] == 2
    assert c.sleeps == [0.25] * 8
    assert c.now == 1002
    assert snapshot(async_dir) == before


def test_wait_last_sleep_is_cut_to_the_deadline(async_dir):
    write_job(async_dir, JID, RUNNING)
    c = FakeClock()
    status = waiting.wait_for(async_dir, JID, 1.1, liveness=alive, clock=c.clock, sleep=c.sleep,
                              interval=0.25, liveness_interval=1)
    assert status['state'] == 'running'
    assert c.sleeps[:4] == [0.25] * 4
    assert len(c.sleeps) == 5
    assert c.sleeps[4] == pytest.approx(0.1)
    assert sum(c.sleeps) == pytest.approx(1.1)
    assert status['waited'] == 1.1


@pytest.mark.parametrize('seconds', [0, -5])
def test_wait_zero_or_negative_seconds_does_not_sleep(async_dir, seconds):
    write_job(async_dir, JID, RUNNING)
    c = FakeClock()
    status = waiting.wait_for(async_dir, JID, seconds, liveness=alive, clock=c.clock,
                              sleep=no_sleep)
    assert status['state'] == 'running'
    assert status['waited'] == 0


@pytest.mark.parametrize('liveness_interval,calls', [
    (0, 13), (0.25, 13), (0.5, 7), (1, 4), (1.25, 3), (2.5, 2), (10, 1),
])
def test_wait_liveness_at_most_every_interval(async_dir, liveness_interval, calls):
    """The file is read after every sleep, the process table scanned (liveness) only
    when liveness_interval has passed since the last scan."""
    write_job(async_dir, JID, RUNNING)
    c = FakeClock()
    times = []

    def live(jid, owner_uid=None):
        times.append(c.now)
        return True, [1], None

    status = waiting.wait_for(async_dir, JID, 3, liveness=live, clock=c.clock, sleep=c.sleep,
                              interval=0.25, liveness_interval=liveness_interval)
    assert status['state'] == 'running'
    assert len(c.sleeps) == 12
    assert len(times) == calls
    assert times[0] == 1000
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= liveness_interval for g in gaps), gaps


def test_wait_default_intervals(async_dir):
    """POLL_INTERVAL between reads, liveness no more often than LIVENESS_INTERVAL."""
    write_job(async_dir, JID, RUNNING)
    c = FakeClock()
    live = Recorder()
    waiting.wait_for(async_dir, JID, 2 * waiting.LIVENESS_INTERVAL, liveness=live, clock=c.clock,
                     sleep=c.sleep)
    assert max(c.sleeps) <= waiting.POLL_INTERVAL
    assert c.sleeps[0] == waiting.POLL_INTERVAL
    assert 2 <= len(live.calls) <= 3


def test_wait_ends_when_wrapper_dies(async_dir):
    """Liveness turns false at a scan: the job is orphaned and the wait ends there."""
    write_job(async_dir, JID, RUNNING)
    c = FakeClock()
    answers = []

    def live(jid, owner_uid=None):
        answers.append(c.now)
        return (c.now < 1002), [], None

    status = waiting.wait_for(async_dir, JID, 60, liveness=live, clock=c.clock, sleep=c.sleep,
                              interval=0.25, liveness_interval=1)
    assert status['state'] == 'orphaned'
    assert status['pid_missing'] is True
    assert answers == [1000, 1001, 1002]
    assert status['waited'] == 2


def test_wait_job_file_removed_mid_wait(async_dir):
    path = write_job(async_dir, JID, RUNNING)

    def remove(count):
        if count == 2:
            os.unlink(path)

    c = FakeClock(on_sleep=remove)
    with pytest.raises(errors.JobError) as exc:
        waiting.wait_for(async_dir, JID, 60, liveness=alive, clock=c.clock, sleep=c.sleep,
                         interval=0.25, liveness_interval=100)
    assert exc.value.msg == 'could not find job'
    assert len(c.sleeps) == 2


def test_wait_unparsable_file_mid_wait_keeps_waiting(async_dir):
    """A half-written (unparsable) file is not finished: the wait goes on until the
    result is there."""
    path = write_job(async_dir, JID, RUNNING)

    def rewrite(count):
        if count == 2:
            with open(path, 'w') as f:
                f.write('{"started": 1, "fini')
        elif count == 4:
            changes.atomic_write_json(path, SUCCEEDED)

    c = FakeClock(on_sleep=rewrite)
    status = waiting.wait_for(async_dir, JID, 60, liveness=alive, clock=c.clock, sleep=c.sleep,
                              interval=0.25, liveness_interval=100)
    assert status['state'] == 'succeeded'
    assert len(c.sleeps) == 4


def test_wait_waited_is_rounded(async_dir):
    write_job(async_dir, JID, RUNNING)
    ticks = iter([0.0, 0.0, 0.1234567, 0.1234567, 0.1234567])

    def clock():
        return next(ticks)

    status = waiting.wait_for(async_dir, JID, 0.1, liveness=alive, clock=clock,
                              sleep=lambda s: None, interval=0.25, liveness_interval=100)
    assert status['waited'] == 0.123


def test_wait_real_clock_and_sleep(async_dir):
    """Default clock and sleep: a thread finishes the job 0.3 s in."""
    path = write_job(async_dir, JID, RUNNING)
    timer = threading.Timer(0.3, changes.atomic_write_json, (path, SUCCEEDED))
    timer.start()
    try:
        t0 = time.time()
        status = waiting.wait_for(async_dir, JID, 10, liveness=alive)
        elapsed = time.time() - t0
    finally:
        timer.cancel()
        timer.join()
    assert status['state'] == 'succeeded'
    assert 0.25 <= status['waited'] <= elapsed + 0.01
    assert elapsed < 3


# --- wait_for_all --------------------------------------------------------------------------------

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


# --- add_progress ---------------------------------------------------------------------------------

def running_status(async_dir):
    return dict(ansible_job_id=JID, state=model.RUNNING)


def test_progress_of_a_running_job_with_its_output(async_dir):
    write_job(async_dir, JID, RUNNING)
    changes.write_meta(async_dir, JID, 'build', 1000.0, output='.output-tok.log')
    write_job(async_dir, '.output-tok.log', ''.join(
        'out: line %d\n' % i for i in range(1, 16)) + 'err: warn\nout+ parti\nout+ al\n')
    status = waiting.add_progress(async_dir, running_status(async_dir), clock=lambda: 1135.04,
                                  tail_lines=3)
    assert status == dict(ansible_job_id=JID, state=model.RUNNING, running_for=135.0,
                          stdout_tail=['line 14', 'line 15', 'partial'], stderr_tail=['warn'])


@pytest.mark.parametrize('meta_output, tail_lines', [
    ('.output-tok.log', 0),   # no tails asked for
    (None, 10),               # not captured (the module form, or no_log)
    ('../outside.log', 10),   # not an output log's name: never read
    ('/etc/passwd', 10),
])
def test_progress_without_tails(async_dir, meta_output, tail_lines):
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, '.output-tok.log', 'out: x\n')
    changes.write_meta(async_dir, JID, 'build', 1000.0, output=meta_output)
    status = waiting.add_progress(async_dir, running_status(async_dir), clock=lambda: 1010.0,
                                  tail_lines=tail_lines)
    assert status == dict(ansible_job_id=JID, state=model.RUNNING, running_for=10.0)


def test_progress_of_a_job_with_an_empty_log_yet(async_dir):
    write_job(async_dir, JID, RUNNING)
    changes.write_meta(async_dir, JID, 'build', 1000.0, output='.output-tok.log')
    status = waiting.add_progress(async_dir, running_status(async_dir), clock=lambda: 1000.0,
                                  tail_lines=10)
    assert (status['stdout_tail'], status['stderr_tail']) == ([], [])


def test_progress_without_meta_counts_from_the_job_file(async_dir):
    path = write_job(async_dir, JID, RUNNING)
    os.utime(path, (2000.0, 2000.0))
    status = waiting.add_progress(async_dir, running_status(async_dir), clock=lambda: 2075.0,
                                  tail_lines=10)
    assert status == dict(ansible_job_id=JID, state=model.RUNNING, running_for=75.0)


def test_progress_leaves_a_finished_job_alone(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    changes.write_meta(async_dir, JID, 'build', 1000.0, output='.output-tok.log')
    write_job(async_dir, '.output-tok.log', 'out: done\n')
    status = dict(ansible_job_id=JID, state=model.SUCCEEDED, rc=0)
    assert waiting.add_progress(async_dir, dict(status), tail_lines=10) == status


# --- still_wrappers and watching: liveness checked again while a job is waited for --------------

PREFIX = 'j123456789012'
TMP = '/root/.ansible/tmp/ansible-tmp-1700000000.12-345-67890'


def wrapper_tree(root):
    """A fake proc tree: two wrapper processes of PREFIX (99, 1000), the job's module
    (1001), another job's wrapper (1002), a wrapper of a longer prefix (1003), and a pid
    dir without cmdline (1005, a process that just exited)."""
    def wrapper(prefix):
        return ['/usr/bin/python3', TMP + '/async_wrapper.py', prefix, '30',
                TMP + '/AnsiballZ_command.py', '_']
    return make_proc(root, {1: ['/sbin/init'], 99: wrapper(PREFIX), 1000: wrapper(PREFIX),
                            1001: ['/usr/bin/python3', TMP + '/AnsiballZ_command.py'],
                            1002: wrapper('j999999999999'), 1003: wrapper(PREFIX + '0'),
                            1005: None},
                     mounts='proc /proc proc rw 0 0\n')


@pytest.mark.parametrize('pids, still', [
    ([99, 1000], [99, 1000]),
    ([1000, 1001, 1002, 1003], [1000]),   # the module, another job, a longer prefix: not ours
    ([99, 4242, 1005], [99]),             # gone, or exited between listdir and open
    ([], []),
    (None, []),
])
def test_still_wrappers_fake(tmp_path, pids, still):
    proc = wrapper_tree(tmp_path / 'proc')
    assert waiting.still_wrappers(PREFIX + '.1', pids, proc) == still


def test_watching_scans_again_only_when_the_wrappers_are_gone(tmp_path):
    proc = wrapper_tree(tmp_path / 'proc')
    other = 'j999999999999.7'
    jid = PREFIX + '.1'
    scans = []

    def liveness_for(jids):
        scans.append(sorted(jids))
        return procs.liveness_snapshot(jids, proc)
    liveness_of = waiting.watching(liveness_for, proc)
    first = liveness_of([jid, other])
    assert first(jid) == (True, [99, 1000], None) and first(other) == (True, [1002], None)
    assert scans == [[jid, other]]
    again = liveness_of([jid, other])
    assert again(jid) == (True, [99, 1000], None) and again(other) == (True, [1002], None)
    assert scans == [[jid, other]]  # no second scan: the pids found are still wrappers
    os.unlink(os.path.join(proc, '99', 'cmdline'))
    assert liveness_of([jid])(jid) == (True, [1000], None)
    assert scans == [[jid, other]]
    for pid in ('1000', '1002'):
        os.unlink(os.path.join(proc, pid, 'cmdline'))
    last = liveness_of([jid, other])
    assert last(jid) == (False, [], None) and last(other) == (False, [], None)
    assert scans == [[jid, other], [jid, other]]
    assert liveness_of([jid])(jid) == (False, [], None)  # dead stays dead: scanned again
    assert scans[-1] == [jid]


@needs_proc
def test_watching_real_process(fake_wrapper):
    jid = fake_wrapper.prefix + '.1'
    scans = []

    def liveness_for(jids):
        scans.append(list(jids))
        return procs.liveness_snapshot(jids)
    liveness_of = waiting.watching(liveness_for)
    assert liveness_of([jid])(jid, owner_uid=os.getuid()) == (True, [fake_wrapper.pid], None)
    assert liveness_of([jid])(jid, owner_uid=os.getuid()) == (True, [fake_wrapper.pid], None)
    assert scans == [[jid]]
    fake_wrapper.kill()
    assert liveness_of([jid])(jid, owner_uid=os.getuid()) == (False, [], None)
    assert scans == [[jid], [jid]]
