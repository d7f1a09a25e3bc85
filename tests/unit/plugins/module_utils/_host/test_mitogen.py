# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jobs of Mitogen for Ansible's async runner, through every part of module_utils: their
job ids and names (_shared.names, _shared.entries), the liveness of their runner from the
pid its job file records and that process's start time (_host.mitogen, _host.job_status),
their states, Mitogen's timeout, listing and pruning them, killing them (a runner that
leads its process group, children that ignore SIGTERM), and claims (_host.claims).

The runner is a real process (unit_helpers.FakeMitogenRunner): a session leader with a
child, as Mitogen's forked runner is; its job file is written as Mitogen writes it."""

import json
import os
import subprocess
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    async_dir as adir, claims, job_status as files, kill as killing, listing, mitogen, prune as
    pruning, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import entries, names, specs

from unit_helpers import (FakeMitogenRunner, make_link, mitogen_jid, needs_proc, never,
                          claim_of, wait_until, write_claim, write_job)

JID = '66c6c6863f27278e'
# What Mitogen's runner writes (ansible_mitogen/target.py, AsyncRunner).
DONE = {'changed': True, 'rc': 0, 'stdout': 'ok', 'ansible_job_id': JID, 'data': '',
        'warnings': [], 'stderr': ''}
TIMED_OUT = {'failed': 1, 'finished': 1, 'msg': 'Job reached maximum time limit of 30 seconds.',
             'ansible_job_id': JID, 'data': ''}
CRASHED = {'failed': 1, 'msg': 'Traceback (most recent call last): ...', 'ansible_job_id': JID,
           'data': ''}


# --- job ids and names ----------------------------------------------------------------------

@pytest.mark.parametrize('jid, ok', [
    (JID, True), ('0000000000000000', True), ('ffffffffffffffff', True),
    ('66c6c6863f27278', False),     # 15 digits
    ('66c6c6863f27278e0', False),   # 17
    ('66C6C6863F27278E', False),    # Mitogen writes lower case
    ('66c6c6863f27278g', False),
    ('j66c6c6863f27278e', False),
])
def test_mitogen_job_ids(jid, ok):
    assert (names.jid_error(jid) is None) is ok
    assert names.is_mitogen_jid(jid) is ok
    assert (names.jid_prefix(jid) is None)


def test_entries_of_mitogen_jobs():
    assert entries.entry_kind(JID) == ('job', JID)
    assert entries.entry_kind(JID + '.jid_build') == ('legacy_name', (JID, 'build'))
    assert entries.entry_kind(JID + '.tmp') == ('temp', JID)  # its runner's atomic write
    assert entries.entry_kind('.%s.meta' % JID) == ('meta', JID)


def test_names_of_mitogen_jobs(async_dir):
    write_job(async_dir, JID, DONE)
    assert changes.set_alias(async_dir, 'build', JID)['changed'] is True
    assert adir.find_alias(async_dir, 'build') == (os.path.join(async_dir, 'jid_build'),
                                                   os.path.join(async_dir, JID))
    make_link(async_dir, JID + '.jid_old', JID)
    assert files.job_status(async_dir, alias='old', liveness=never)['state'] == 'succeeded'


@pytest.mark.parametrize('environ, expected', [
    ({'ANSIBLE_ASYNC_DIR': '/var/jobs'}, '/var/jobs'),
    ({'ANSIBLE_ASYNC_DIR': '~/jobs', 'HOME': '/home/u'}, '/home/u/jobs'),
    ({'HOME': '/home/u'}, '/home/u/.ansible_async'),
    ({'ANSIBLE_ASYNC_DIR': '', 'HOME': '/home/u'}, '/home/u/.ansible_async'),
])
def test_runner_async_dir(monkeypatch, environ, expected):
    for key in ('ANSIBLE_ASYNC_DIR', 'HOME'):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert adir.runner_async_dir() == expected
    assert adir.require_async_dir(dict(_async_dir=None)) == expected


# --- the runner's liveness ------------------------------------------------------------------

@pytest.mark.parametrize('text, seconds', [
    ('00:05', 5), ('01:02:03', 3723), ('2-01:00:00', 176400), ('59:59', 3599),
    ('', None), ('5', None), ('a:b', None), ('1:2:3:4', None),
])
def test_etime_seconds(text, seconds):
    assert mitogen._etime_seconds(text) == seconds


@needs_proc
def test_process_start_of_a_real_process():
    before = time.time()
    proc = subprocess.Popen(['sleep', '30'])
    try:
        started = mitogen.process_start(proc.pid)
        assert before - 0.1 <= started <= time.time() + 0.1
        assert mitogen.process_start(os.getpid()) < before
    finally:
        proc.kill()
        proc.wait()
    assert mitogen.process_start(proc.pid) is None


@needs_proc
def test_a_zombie_has_no_start():
    """A runner killed but not reaped yet (its parent, init, reaps it later) is gone."""
    proc = subprocess.Popen(['sleep', '30'])
    try:
        proc.kill()
        wait_until(lambda: open('/proc/%d/stat' % proc.pid).read().split(')')[1].split()[0]
                   == 'Z', 10, 'the zombie')
        assert mitogen.process_start(proc.pid) is None
    finally:
        proc.wait()


@needs_proc
def test_runner_liveness(mitogen_runner, async_dir):
    path = mitogen_runner.write_job(async_dir)
    written = os.stat(path).st_mtime
    assert mitogen.runner_liveness(mitogen_runner.pid, written) == (True, [mitogen_runner.pid], None)
    # the file was written before that process started: the pid was recycled
    assert mitogen.runner_liveness(mitogen_runner.pid, written - 60) == (False, [], None)
    assert mitogen.runner_liveness(2 ** 22 + 1, written) == (False, [], None)
    for pid in (None, 'x', True, 0, -1):
        alive, pids, why = mitogen.runner_liveness(pid, written)
        assert (alive, pids) == (None, []) and 'records no runner pid' in why


def test_runner_liveness_from_ps(monkeypatch, tmp_path):
    """Without /proc the start time comes from ps's elapsed time."""
    calls = []

    def fake_ps(cmd, env=None, stderr=None):
        calls.append(cmd)
        return b'Ss      01:40\n'
    monkeypatch.setattr(mitogen.subprocess, 'check_output', fake_ps)
    noproc = str(tmp_path / 'noproc')
    assert mitogen.process_start(4242, noproc, clock=lambda: 1000.0) == 900.0
    assert calls == [['ps', '-o', 'stat=', '-o', 'etime=', '-p', '4242']]
    assert mitogen.runner_liveness(4242, 950.0, proc=noproc, clock=lambda: 1000.0)[0] is True
    assert mitogen.runner_liveness(4242, 850.0, proc=noproc, clock=lambda: 1000.0)[0] is False


# --- states ---------------------------------------------------------------------------------

@needs_proc
def test_running_then_orphaned(mitogen_runner, async_dir):
    mitogen_runner.write_job(async_dir)
    changes.set_alias(async_dir, 'build', mitogen_runner.jid)
    # whatever liveness is injected: a Mitogen job is judged by its own runner
    for status in (files.job_status(async_dir, jid=mitogen_runner.jid, liveness=never),
                   files.job_status(async_dir, alias='build', liveness=never)):
        assert status['state'] == 'running' and status['pid'] == mitogen_runner.pid
    mitogen_runner.kill()
    status = files.job_status(async_dir, alias='build', liveness=never)
    assert status['state'] == 'orphaned' and status['pid_missing'] is True
    assert status['msg'] == ('job %s never finished: its Mitogen for Ansible\'s runner process is '
                             'gone (killed, crashed or the host rebooted); its result is lost'
                             % mitogen_runner.jid)


@needs_proc
def test_a_recycled_pid_does_not_keep_a_dead_job_alive(async_dir):
    """A runner that died, whose pid another process now has: that process started after
    the job file was written."""
    other = subprocess.Popen(['sleep', '30'])
    try:
        path = write_job(async_dir, JID, {'started': 1, 'finished': 0, 'pid': other.pid,
                                          'ansible_job_id': JID, 'data': ''})
        os.utime(path, (time.time() - 3600, time.time() - 3600))
        assert files.job_status(async_dir, jid=JID, liveness=never)['state'] == 'orphaned'
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize('data, state', [
    (DONE, 'succeeded'),
    (TIMED_OUT, 'timed_out'),
    (dict(TIMED_OUT, msg='Job reached maximum time limit of 30 seconds. Or not'), 'failed'),
    (CRASHED, 'failed'),
    (dict(DONE, rc=2, failed=True), 'failed'),
])
def test_finished_states(async_dir, data, state):
    write_job(async_dir, JID, data)
    status = files.job_status(async_dir, jid=JID, liveness=never)
    assert status['state'] == state and status['finished'] is True


def test_a_running_job_file_without_a_pid(async_dir):
    write_job(async_dir, JID, {'started': 1, 'finished': 0, 'ansible_job_id': JID})
    status = files.job_status(async_dir, jid=JID, liveness=never)
    assert status['state'] == 'running'
    assert 'records no runner pid' in status['warnings'][0]


# --- listing and pruning --------------------------------------------------------------------

@needs_proc
def test_listing_and_pruning(mitogen_runner, async_dir):
    mitogen_runner.write_job(async_dir)
    changes.set_alias(async_dir, 'run', mitogen_runner.jid)
    old = time.time() - 3 * 86400
    for jid, data in ((mitogen_jid(), DONE), (mitogen_jid(), TIMED_OUT)):
        os.utime(write_job(async_dir, jid, dict(data, ansible_job_id=jid)), (old, old))
    dead = mitogen_jid()  # its runner is gone: orphaned
    os.utime(write_job(async_dir, dead, {'started': 1, 'finished': 0, 'pid': 2 ** 22 + 3,
                                         'ansible_job_id': dead}), (old, old))
    jobs = dict((j['ansible_job_id'], j) for j in listing.list_jobs(async_dir)['jobs'])
    assert jobs[mitogen_runner.jid]['state'] == 'running'
    assert jobs[mitogen_runner.jid]['pids'] == [mitogen_runner.pid]
    assert jobs[mitogen_runner.jid]['aliases'] == ['run']
    assert sorted(j['state'] for j in jobs.values()) == ['orphaned', 'running', 'succeeded',
                                                         'timed_out']
    result = pruning.prune(async_dir, 86400.0)
    # the old finished ones and the old orphan go; the running one stays, named
    assert result['kept_running'] == 1 and len(result['removed']) == 3
    assert sorted(os.listdir(async_dir)) == sorted([mitogen_runner.jid, 'jid_run'])


# --- kill -----------------------------------------------------------------------------------

@needs_proc
@pytest.mark.parametrize('ignore_term', [False, True])
def test_kill_stops_the_runner_and_its_group(async_dir, ignore_term):
    runner = FakeMitogenRunner(ignore_term=ignore_term)
    try:
        runner.write_job(async_dir)
        group = runner.group()
        assert len(group) == 2 and runner.pid in group
        result = killing.kill(async_dir, runner.jid, grace=0.5)
        assert result['state'] == 'killed' and result['changed'] is True
        assert result['pids'] == group
        wait_until(lambda: not runner.group(), 10, 'the runner\'s group to be gone')
        with open(os.path.join(async_dir, runner.jid)) as f:
            data = json.load(f)
        assert data['killed'] is True and data['msg'] == (
            'job %s was killed by asyncjobs.named.async_kill with SIGTERM' % runner.jid)
    finally:
        runner.kill()


@needs_proc
def test_kill_never_signals_a_recycled_pid(async_dir):
    other = subprocess.Popen(['sleep', '30'], start_new_session=True)
    try:
        path = write_job(async_dir, JID, {'started': 1, 'finished': 0, 'pid': other.pid,
                                          'ansible_job_id': JID})
        os.utime(path, (time.time() - 3600, time.time() - 3600))
        result = killing.kill(async_dir, JID, grace=0.1)
        assert result['state'] == 'orphaned' and result['changed'] is False
        assert other.poll() is None  # untouched
    finally:
        other.kill()
        other.wait()


# --- claims ---------------------------------------------------------------------------------

@needs_proc
def test_a_claimed_mitogen_job_is_found_by_its_token(async_dir):
    runner = FakeMitogenRunner(env={specs.CLAIM_ENV: 'tok-123'})
    try:
        runner.write_job(async_dir)
        assert claims.find_claimed_job(async_dir, 'tok-123') == runner.jid
        assert claims.find_claimed_job(async_dir, 'other') is None
        write_claim(async_dir, 'build', 'tok-123', when=time.time())
        found = claims.prepare(async_dir, 'build', 'mine', False)
        assert found['action'] == 'attach' and found['ansible_job_id'] == runner.jid
        assert found['recovered_claim'] is True
        assert os.readlink(os.path.join(async_dir, 'jid_build')) == runner.jid
    finally:
        runner.kill()


@pytest.mark.parametrize('jid', ['j1.1', JID])
def test_abandon_with_the_jid_records_the_job(async_dir, jid):
    write_job(async_dir, jid, DONE)
    write_claim(async_dir, 'build', 'tok', when=time.time())
    assert claims.abandon(async_dir, 'build', 'tok', jid=jid) == dict(abandoned=True,
                                                                      recorded=jid)
    assert claim_of(async_dir, 'build')['jid'] == jid
    # the next run names that job at once, though the claim is fresh, and starts nothing
    found = claims.prepare(async_dir, 'build', 'next', True, sleep=lambda s: None)
    assert found['action'] == 'attach' and found['ansible_job_id'] == jid
    assert not os.path.exists(os.path.join(async_dir, '.jid_build.claim'))


def test_abandon_with_an_unknown_jid_drops_the_claim(async_dir):
    write_claim(async_dir, 'build', 'tok', when=time.time())
    assert claims.abandon(async_dir, 'build', 'tok', jid=JID) == dict(abandoned=True)
    assert not os.path.exists(os.path.join(async_dir, '.jid_build.claim'))


def test_a_recorded_job_that_is_gone_frees_the_claim(async_dir):
    write_claim(async_dir, 'build', 'tok', when=time.time(), jid=JID)
    found = claims.prepare(async_dir, 'build', 'next', False, sleep=lambda s: None)
    assert found['action'] == 'start'
    assert claim_of(async_dir, 'build')['token'] == 'next'
