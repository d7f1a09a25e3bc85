# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/claims.py: the exactly-once start of a
named job.

Covers claim_path, read_claim, find_claimed_job, await_job_of_prefix, prepare (with
decide and claim_name under it: fresh, stale and dead claims, the recovery of a job
whose starter died before naming it, check mode), bind and abandon. Claimed jobs are
found in fake proc trees (with ``environ`` files) and in the real /proc with a real
process carrying the claim token in its environment; a concurrency test has several
processes claim one name at the same moment.
"""

import json
import multiprocessing
import os
import stat
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    async_dir as adir, claims, job_status as files, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors, names, specs

from unit_helpers import (alive, claim_of, dead, FakeClock, FakeWrapper, make_link, make_proc,
                          make_stat_proc, name_of, needs_proc, never, snapshot, temp_leftovers,
                          unknown, UNKNOWN_WHY, wrapper_argv, write_claim, write_job)


JID = 'j123456789012.4242'
NEW = 'j555555555555.55'
OTHER = 'j999999999999.77'
RUNNING = {'started': 1, 'finished': 0, 'ansible_job_id': JID}
SUCCEEDED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'rc': 0, 'stdout': 'done'}
FAILED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'rc': 1, 'failed': True}
KILLED = {'started': True, 'finished': True, 'ansible_job_id': JID, 'killed': True,
          'failed': True, 'msg': 'killed'}
TIMED_OUT = {'msg': 'Timeout exceeded', 'failed': True, 'child_pid': 1}
TMP = '/root/.ansible/tmp/ansible-tmp-1700000000.12-345-67890'
WRAPPER = TMP + '/async_wrapper.py'
MODULE = TMP + '/AnsiballZ_command.py'
PREFIX = 'j123456789012'
TOKEN = 'c0ffee0123456789'


def wrapper_args(prefix):
    return ['/usr/bin/python3', WRAPPER, prefix, '30', MODULE, '_']


def without_lock(snap):
    return dict((k, v) for k, v in snap.items() if not k.endswith('.lock'))


@pytest.fixture
def noproc(tmp_path):
    """An empty fake proc tree: no claimed job anywhere."""
    return make_stat_proc(tmp_path / 'proc', {})


# --- claim_path / read_claim ---------------------------------------------------------------------

def test_claim_path(async_dir):
    assert claims.claim_path(async_dir, 'build') == os.path.join(async_dir, '.jid_build.claim')
    assert claims.claim_path('/a/b', 'x.y-z') == '/a/b/.jid_x.y-z.claim'


def test_read_claim(async_dir):
    data = write_claim(async_dir, 'build', 'tok', when=1234.5)
    assert claims.read_claim(async_dir, 'build') == data
    assert claims.read_claim(async_dir, 'other') is None


@pytest.mark.parametrize('content', [
    '', 'not json', '{"token": "t"', '[]', '["token"]', '"token"', 'null', '42',
    '{}', '{"time": 1000, "pid": 1}', '{"Token": "t"}',
])
def test_read_claim_unusable(async_dir, content):
    with open(claims.claim_path(async_dir, 'build'), 'w') as f:
        f.write(content)
    assert claims.read_claim(async_dir, 'build') is None


def test_read_claim_token_only(async_dir):
    with open(claims.claim_path(async_dir, 'build'), 'w') as f:
        f.write('{"token": "t"}')
    assert claims.read_claim(async_dir, 'build') == {'token': 't'}


def test_read_claim_missing_dir(tmp_path):
    assert claims.read_claim(str(tmp_path / 'nowhere'), 'build') is None


def test_read_claim_is_a_directory(async_dir):
    os.mkdir(claims.claim_path(async_dir, 'build'))
    assert claims.read_claim(async_dir, 'build') is None


def test_read_claim_binary(async_dir):
    with open(claims.claim_path(async_dir, 'build'), 'wb') as f:
        f.write(b'\xff\xfe{"token": 1}')
    assert claims.read_claim(async_dir, 'build') is None


# --- find_claimed_job ----------------------------------------------------------------------------

def claimed_tree(tmp_path, **more):
    processes = {
        1: dict(args=['/sbin/init'], ppid=0, pgid=1, environ={'PATH': '/bin'}),
        300: dict(args=['sleep', '300'], ppid=1, pgid=300,
                  environ={specs.CLAIM_ENV: TOKEN}),  # not a wrapper: ignored
        400: dict(args=wrapper_args('j400'), ppid=1, pgid=399,
                  environ={specs.CLAIM_ENV: 'another-token'}),
        401: dict(args=wrapper_args('j401'), ppid=1, pgid=401),  # no environ readable
    }
    processes.update(more)
    return make_stat_proc(tmp_path / 'proc', processes)


def test_find_claimed_job(async_dir, tmp_path):
    proc = claimed_tree(tmp_path, **{'500': dict(
        args=wrapper_args(PREFIX), ppid=1, pgid=499,
        environ={'HOME': '/root', specs.CLAIM_ENV: TOKEN, 'LANG': 'C'})})
    write_job(async_dir, 'j400.1', RUNNING)
    write_job(async_dir, PREFIX + '.500', RUNNING)
    assert claims.find_claimed_job(async_dir, TOKEN, proc) == PREFIX + '.500'
    assert claims.find_claimed_job(async_dir, 'another-token', proc) == 'j400.1'


@pytest.mark.parametrize('token', ['wrong', TOKEN[:-1], TOKEN + '0', '', TOKEN.upper()])
def test_find_claimed_job_wrong_token(async_dir, tmp_path, token):
    proc = claimed_tree(tmp_path, **{'500': dict(
        args=wrapper_args(PREFIX), ppid=1, pgid=499, environ={specs.CLAIM_ENV: TOKEN})})
    write_job(async_dir, PREFIX + '.500', RUNNING)
    assert claims.find_claimed_job(async_dir, token, proc) is None


def test_find_claimed_job_other_variable_with_the_token(async_dir, tmp_path):
    proc = claimed_tree(tmp_path, **{'500': dict(
        args=wrapper_args(PREFIX), ppid=1, pgid=499,
        environ={'X' + specs.CLAIM_ENV: TOKEN, 'OTHER': TOKEN})})
    write_job(async_dir, PREFIX + '.500', RUNNING)
    assert claims.find_claimed_job(async_dir, TOKEN, proc) is None


def test_find_claimed_job_without_job_file(async_dir, tmp_path):
    """The wrapper has not written its job file yet (or it is gone): nothing; names that
    merely start with the prefix are not its job file."""
    proc = claimed_tree(tmp_path, **{'500': dict(
        args=wrapper_args(PREFIX), ppid=1, pgid=499, environ={specs.CLAIM_ENV: TOKEN})})
    for name in (PREFIX + '0.500', PREFIX + '.500.tmp', 'jid_' + PREFIX + '.500',
                 PREFIX + '.x', '.' + PREFIX + '.500.abc.tmp', PREFIX + '.'):
        write_job(async_dir, name, RUNNING)
    make_link(async_dir, PREFIX + '.500.jid_build', PREFIX + '.500')
    assert claims.find_claimed_job(async_dir, TOKEN, proc) is None


def test_find_claimed_job_first_of_several_files(async_dir, tmp_path):
    proc = claimed_tree(tmp_path, **{'500': dict(
        args=wrapper_args(PREFIX), ppid=1, pgid=499, environ={specs.CLAIM_ENV: TOKEN})})
    write_job(async_dir, PREFIX + '.9', RUNNING)
    write_job(async_dir, PREFIX + '.10', RUNNING)
    assert claims.find_claimed_job(async_dir, TOKEN, proc) == PREFIX + '.10'


def test_find_claimed_job_looks_past_a_wrapper_without_file(async_dir, tmp_path):
    """Two wrappers carry the token (a retried start); only one has a job file."""
    proc = claimed_tree(tmp_path, **{
        '500': dict(args=wrapper_args('j500'), ppid=1, pgid=499, environ={specs.CLAIM_ENV: TOKEN}),
        '600': dict(args=wrapper_args('j600'), ppid=1, pgid=599, environ={specs.CLAIM_ENV: TOKEN}),
    })
    write_job(async_dir, 'j600.600', RUNNING)
    assert claims.find_claimed_job(async_dir, TOKEN, proc) == 'j600.600'


@pytest.mark.parametrize('args', [
    # 2.21's command line
    ['/usr/bin/python3', WRAPPER, PREFIX, '30', 'true', MODULE, '/usr/bin/python3', MODULE],
    ['python3', 'async_wrapper.py', PREFIX, '30', 'module.py', '_'],
])
def test_find_claimed_job_command_line_forms(async_dir, tmp_path, args):
    proc = claimed_tree(tmp_path, **{'500': dict(args=args, ppid=1, pgid=499,
                                                 environ={specs.CLAIM_ENV: TOKEN})})
    write_job(async_dir, PREFIX + '.500', RUNNING)
    assert claims.find_claimed_job(async_dir, TOKEN, proc) == PREFIX + '.500'


@pytest.mark.parametrize('args', [
    ['/usr/bin/python3', WRAPPER],  # nothing after the wrapper: no prefix
    ['/usr/bin/python3', WRAPPER + '.bak', PREFIX, '30'],
    ['/usr/bin/python3', MODULE, PREFIX],
    [],
])
def test_find_claimed_job_not_a_wrapper(async_dir, tmp_path, args):
    proc = claimed_tree(tmp_path, **{'500': dict(args=args, ppid=1, pgid=499,
                                                 environ={specs.CLAIM_ENV: TOKEN})})
    write_job(async_dir, PREFIX + '.500', RUNNING)
    assert claims.find_claimed_job(async_dir, TOKEN, proc) is None


def test_find_claimed_job_empty_proc(async_dir, noproc):
    assert claims.find_claimed_job(async_dir, TOKEN, noproc) is None


@needs_proc
def test_find_claimed_job_real_process(async_dir):
    token = 'tok-%d' % os.getpid()
    wrapper = FakeWrapper(env={specs.CLAIM_ENV: token})
    try:
        write_job(async_dir, wrapper.prefix + '.%d' % wrapper.pid, RUNNING)
        assert claims.find_claimed_job(async_dir, token) == wrapper.prefix + '.%d' % wrapper.pid
        assert claims.find_claimed_job(async_dir, token + 'x') is None
        assert claims.find_claimed_job(async_dir, 'other') is None
    finally:
        wrapper.kill()
    assert claims.find_claimed_job(async_dir, token) is None  # gone with its process


@needs_proc
def test_find_claimed_job_real_process_without_token(async_dir, fake_wrapper):
    write_job(async_dir, fake_wrapper.jid, RUNNING)
    assert claims.find_claimed_job(async_dir, 'tok') is None


# --- await_job_of_prefix -------------------------------------------------------------------------

def test_await_job_of_prefix_existing(async_dir, tmp_path):
    write_job(async_dir, 'j444.55', RUNNING)
    write_job(async_dir, 'j4444.1', RUNNING)   # another prefix that starts the same
    os.symlink('j444.55', os.path.join(async_dir, 'j444.56'))
    assert claims.await_job_of_prefix(async_dir, 'j444', proc=str(tmp_path)) == ('j444.55', True)


def test_await_job_of_prefix_gives_up_without_process(async_dir, tmp_path):
    noproc = make_proc(tmp_path / 'proc', {})
    c = FakeClock()
    assert claims.await_job_of_prefix(async_dir, 'j444', proc=noproc, clock=c.clock,
                                      sleep=c.sleep) == (None, False)
    assert c.sleeps == []


def test_await_job_of_prefix_patience_is_not_a_verdict(async_dir, tmp_path):
    """The wrapper still lives without its file when the caller's patience ends: (None,
    True), the start pending, never "ended"."""
    proc = make_proc(tmp_path / 'proc', {4242: wrapper_argv('j444')})
    c = FakeClock()
    assert claims.await_job_of_prefix(async_dir, 'j444', proc=proc, clock=c.clock, sleep=c.sleep,
                                      patience=1.0) == (None, True)
    # polled every 0.05 s until the patience ran out, and no longer
    assert set(c.sleeps) == {0.05} and 1.0 <= sum(c.sleeps) < 1.05 + 1e-9


def test_await_job_of_prefix_unreadable_processes(async_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(claims, 'prefix_liveness', lambda prefix, proc: (None, [], 'no /proc'))
    assert claims.await_job_of_prefix(async_dir, 'j444', proc=str(tmp_path)) == (None, None)


def test_await_job_of_prefix_missing_dir(tmp_path):
    noproc = make_proc(tmp_path / 'proc', {})
    assert claims.await_job_of_prefix(str(tmp_path / 'nope'), 'j444', proc=noproc) == (None, False)


# --- prepare -------------------------------------------------------------------------------------

def absent_status(alias='build'):
    return dict(started=0, finished=0, killed=False, pid_missing=False, state='absent',
                ansible_job_id=None, ansible_job_alias=alias, results_file=None)


def test_prepare_absent_starts_and_claims(async_dir, noproc):
    c = FakeClock(now=1234.5)
    result = claims.prepare(async_dir, 'build', 'tokA', False, liveness=never, clock=c.clock,
                            proc=noproc)
    assert result == dict(action='start', status=absent_status())
    assert claim_of(async_dir, 'build') == dict(token='tokA', time=1234.5, pid=os.getpid())
    assert sorted(os.listdir(async_dir)) == ['.jid_build.claim', '.jid_build.lock']
    assert temp_leftovers(async_dir) == []


def test_prepare_absent_waiting_starts_too(async_dir, noproc):
    result = claims.prepare(async_dir, 'build', 'tokA', True, liveness=never, proc=noproc)
    assert result['action'] == 'start'


def test_prepare_creates_missing_async_dir(tmp_path, noproc):
    d = str(tmp_path / 'home' / '.ansible_async')
    result = claims.prepare(d, 'build', 'tokA', False, liveness=never, proc=noproc)
    assert result['action'] == 'start'
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert claim_of(d, 'build')['token'] == 'tokA'


@pytest.mark.parametrize('name', ['dangling', 'dangling_legacy'])
def test_prepare_dangling_name_starts(async_dir, noproc, name):
    """A name whose job file is gone is absent: it is dropped and the name claimed."""
    if name == 'dangling':
        make_link(async_dir, 'jid_build', JID)
    else:
        make_link(async_dir, JID + '.jid_build', JID)
    result = claims.prepare(async_dir, 'build', 'tokA', True, liveness=never, proc=noproc)
    assert result['action'] == 'start'
    assert result['status']['state'] == 'absent'
    assert claim_of(async_dir, 'build')['token'] == 'tokA'
    assert adir.find_alias(async_dir, 'build') == (None, None)
    assert sorted(os.listdir(async_dir)) == ['.jid_build.claim', '.jid_build.lock']


@pytest.mark.parametrize('waiting', [False, True])
def test_prepare_running_attaches(async_dir, noproc, waiting):
    write_job(async_dir, JID, RUNNING)
    make_link(async_dir, 'jid_build', JID)
    before = snapshot(async_dir)
    result = claims.prepare(async_dir, 'build', 'tokA', waiting, liveness=alive, proc=noproc)
    assert result == dict(action='attach', ansible_job_id=JID, status=files.job_status(
        async_dir, alias='build', liveness=alive))
    assert result['status']['state'] == 'running'
    assert without_lock(snapshot(async_dir)) == before


def test_prepare_running_unknown_liveness_attaches(async_dir, noproc):
    write_job(async_dir, JID, RUNNING)
    make_link(async_dir, 'jid_build', JID)
    result = claims.prepare(async_dir, 'build', 'tokA', False, liveness=unknown, proc=noproc)
    assert result['action'] == 'attach'
    assert result['status']['warnings'] == [UNKNOWN_WHY]


@pytest.mark.parametrize('data,liveness,state', [
    (SUCCEEDED, 'never', 'succeeded'),
    (FAILED, 'never', 'failed'),
    (TIMED_OUT, 'never', 'timed_out'),
    (RUNNING, 'dead', 'orphaned'),
])
def test_prepare_finished_and_waiting_attaches(async_dir, noproc, data, liveness, state):
    """The caller waits: the outcome of the finished, uncollected job is returned."""
    write_job(async_dir, JID, data)
    make_link(async_dir, 'jid_build', JID)
    before = snapshot(async_dir)
    live = dead if liveness == 'dead' else never
    result = claims.prepare(async_dir, 'build', 'tokA', True, liveness=live, proc=noproc)
    assert result['action'] == 'attach'
    assert result['ansible_job_id'] == JID
    assert result['status']['state'] == state
    assert 'recovered_claim' not in result
    assert without_lock(snapshot(async_dir)) == before


@pytest.mark.parametrize('data,liveness,state', [
    (SUCCEEDED, 'never', 'succeeded'),
    (FAILED, 'never', 'failed'),
    (TIMED_OUT, 'never', 'timed_out'),
    (RUNNING, 'dead', 'orphaned'),
    (KILLED, 'never', 'killed'),
])
def test_prepare_finished_not_waiting_frees_name_and_starts(async_dir, noproc, data,
                                                            liveness, state):
    job = write_job(async_dir, JID, data)
    make_link(async_dir, 'jid_build', JID)
    make_link(async_dir, 'jid_keep', JID)
    live = dead if liveness == 'dead' else never
    c = FakeClock()
    result = claims.prepare(async_dir, 'build', 'tokA', False, liveness=live, clock=c.clock,
                            proc=noproc)
    assert result['action'] == 'start'
    assert result['status']['state'] == state
    assert result['status']['ansible_job_id'] == JID
    assert name_of(async_dir, 'build') is None  # the name is free
    assert name_of(async_dir, 'keep') == JID  # other names of the job stay
    assert os.path.exists(job)  # the job file stays
    assert claim_of(async_dir, 'build') == dict(token='tokA', time=1000.0, pid=os.getpid())


def test_prepare_killed_and_waiting_starts(async_dir, noproc):
    """A killed job's outcome is not waited for: a new job is started."""
    write_job(async_dir, JID, KILLED)
    make_link(async_dir, 'jid_build', JID)
    result = claims.prepare(async_dir, 'build', 'tokA', True, liveness=never, proc=noproc)
    assert result['action'] == 'start'
    assert result['status']['state'] == 'killed'
    assert name_of(async_dir, 'build') is None
    assert claim_of(async_dir, 'build')['token'] == 'tokA'


def test_prepare_finished_legacy_name_freed(async_dir, noproc):
    """Named in the older form <jid>.jid_<alias>: once the new job's name is released,
    the name must not lead back to the old job."""
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, JID + '.jid_build', JID)
    assert claims.prepare(async_dir, 'build', 'tokA', False, liveness=never,
                          proc=noproc)['action'] == 'start'
    write_job(async_dir, NEW, RUNNING)
    assert claims.bind(async_dir, 'build', 'tokA', NEW, liveness=never)['bound'] is True
    changes.atomic_write_json(os.path.join(async_dir, NEW), dict(SUCCEEDED, ansible_job_id=NEW))
    changes.release(async_dir, NEW, 'build')
    assert files.job_status(async_dir, alias='build', liveness=never)['state'] == 'absent'
    result = claims.prepare(async_dir, 'build', 'tokB', True, liveness=never, proc=noproc)
    assert result['action'] == 'start'


@pytest.mark.parametrize('age', [0, 1, 59.94])
def test_prepare_fresh_claim_by_other(async_dir, noproc, age):
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, 'jid_build', JID)
    claim = write_claim(async_dir, 'build', 'tokA', when=1000.0)
    before = snapshot(async_dir)
    c = FakeClock(now=1000.0 + age)
    result = claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, clock=c.clock,
                            proc=noproc)
    assert result == dict(action='claimed', status=None, claim_age=round(age, 1))
    assert without_lock(snapshot(async_dir)) == without_lock(before)
    assert claim_of(async_dir, 'build') == claim


def test_prepare_fresh_claim_wins_over_running_job(async_dir, noproc):
    """The claim is looked at first: its owner is about to name a new job."""
    write_job(async_dir, JID, RUNNING)
    make_link(async_dir, 'jid_build', JID)
    write_claim(async_dir, 'build', 'tokA', when=1000.0)
    c = FakeClock(now=1010.0)
    result = claims.prepare(async_dir, 'build', 'tokB', True, liveness=never, clock=c.clock,
                            proc=noproc)
    assert result == dict(action='claimed', status=None, claim_age=10.0)


@pytest.mark.parametrize('stale_after,age', [(60.0, 60.0), (60.0, 3600), (5, 5.01), (0, 0)])
def test_prepare_stale_claim_taken_over(async_dir, noproc, stale_after, age):
    write_claim(async_dir, 'build', 'tokA', when=1000.0)
    c = FakeClock(now=1000.0 + age)
    kwargs = dict(stale_after=stale_after)
    result = claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, clock=c.clock,
                            proc=noproc, **kwargs)
    assert result == dict(action='start', status=absent_status())
    assert claim_of(async_dir, 'build') == dict(token='tokB', time=1000.0 + age,
                                                pid=os.getpid())


@pytest.mark.parametrize('when', [None, 'yesterday', [1]])
def test_prepare_claim_without_readable_time_taken_over(async_dir, noproc, when):
    with open(claims.claim_path(async_dir, 'build'), 'w') as f:
        json.dump(dict(token='tokA', time=when), f)
    c = FakeClock(now=1000.0)
    result = claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, clock=c.clock,
                            proc=noproc)
    assert result == dict(action='start', status=absent_status())
    assert claim_of(async_dir, 'build') == dict(token='tokB', time=1000.0, pid=os.getpid())


def test_prepare_default_stale_after(async_dir, noproc):
    write_claim(async_dir, 'build', 'tokA', when=1000.0)
    fresh = FakeClock(now=1000.0 + specs.CLAIM_STALE_AFTER - 0.5)
    stale = FakeClock(now=1000.0 + specs.CLAIM_STALE_AFTER)
    assert claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, clock=fresh.clock,
                          proc=noproc)['action'] == 'claimed'
    assert claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, clock=stale.clock,
                          proc=noproc)['action'] == 'start'


def test_prepare_stale_claim_then_running_name_attaches(async_dir, noproc):
    """A stale claim does not hide a job running under the name."""
    write_job(async_dir, JID, RUNNING)
    make_link(async_dir, 'jid_build', JID)
    write_claim(async_dir, 'build', 'tokA', when=0.0)
    result = claims.prepare(async_dir, 'build', 'tokB', False, liveness=alive, proc=noproc)
    assert (result['action'], result['ansible_job_id']) == ('attach', JID)


@pytest.mark.parametrize('claim', [{'token': 'tokA'}, {'token': 'tokA', 'time': 0}])
def test_prepare_claim_without_time_is_stale(async_dir, noproc, claim):
    changes.atomic_write_json(claims.claim_path(async_dir, 'build'), claim)
    result = claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, proc=noproc)
    assert result['action'] == 'start'


@pytest.mark.parametrize('content', ['garbage', '{"time": 1000}', '[]'])
def test_prepare_unreadable_claim_is_ignored(async_dir, noproc, content):
    with open(claims.claim_path(async_dir, 'build'), 'w') as f:
        f.write(content)
    c = FakeClock()
    result = claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, clock=c.clock,
                            proc=noproc)
    assert result['action'] == 'start'
    assert claim_of(async_dir, 'build')['token'] == 'tokB'


def test_prepare_own_claim_again(async_dir, noproc):
    """Our own claim (a retry of the same run) does not stop us: start, claim renewed."""
    write_claim(async_dir, 'build', 'tokA', when=1000.0)
    c = FakeClock(now=1001.0)
    result = claims.prepare(async_dir, 'build', 'tokA', False, liveness=never, clock=c.clock,
                            proc=noproc)
    assert result['action'] == 'start'
    assert claim_of(async_dir, 'build')['time'] == 1001.0


def test_prepare_own_claim_with_running_name_attaches(async_dir, noproc):
    write_job(async_dir, JID, RUNNING)
    make_link(async_dir, 'jid_build', JID)
    write_claim(async_dir, 'build', 'tokA')
    result = claims.prepare(async_dir, 'build', 'tokA', False, liveness=alive, proc=noproc)
    assert (result['action'], result['ansible_job_id']) == ('attach', JID)


# --- prepare: the job of a claim whose owner died ------------------------------------------------

def recovered_tree(tmp_path, token):
    return make_stat_proc(tmp_path / 'proc', {
        500: dict(args=wrapper_args(PREFIX), ppid=1, pgid=499, environ={specs.CLAIM_ENV: token}),
        501: dict(args=wrapper_args(PREFIX), ppid=500, pgid=501, environ={specs.CLAIM_ENV: token}),
    })


@pytest.mark.parametrize('age', [1, 3600])
def test_prepare_recovers_claimed_job(async_dir, tmp_path, age):
    """The claim's owner started the job and died before naming it: the job is found by
    the token in its environment, named, and attached to, fresh claim or stale."""
    proc = recovered_tree(tmp_path, 'tokA')
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, OTHER, SUCCEEDED)
    make_link(async_dir, 'jid_build', OTHER)  # the name still has the previous job
    write_claim(async_dir, 'build', 'tokA', when=1000.0)
    c = FakeClock(now=1000.0 + age)
    result = claims.prepare(async_dir, 'build', 'tokB', True, liveness=alive, clock=c.clock,
                            proc=proc)
    assert result == dict(action='attach', ansible_job_id=JID, recovered_claim=True,
                          status=files.job_status(async_dir, jid=JID, liveness=alive))
    assert result['status']['state'] == 'running'
    assert name_of(async_dir, 'build') == JID
    assert claim_of(async_dir, 'build') is None


def test_prepare_recovers_claimed_job_that_finished(async_dir, tmp_path):
    """Its wrapper still runs (cleaning up) while the file says finished: attached too,
    whatever ``waiting`` is."""
    proc = recovered_tree(tmp_path, 'tokA')
    write_job(async_dir, JID, SUCCEEDED)
    write_claim(async_dir, 'build', 'tokA')
    result = claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, proc=proc)
    assert (result['action'], result['recovered_claim']) == ('attach', True)
    assert result['status']['state'] == 'succeeded'
    assert name_of(async_dir, 'build') == JID


def test_prepare_recovery_check_mode_writes_nothing(async_dir, tmp_path):
    proc = recovered_tree(tmp_path, 'tokA')
    write_job(async_dir, JID, RUNNING)
    write_claim(async_dir, 'build', 'tokA')
    before = snapshot(async_dir)
    result = claims.prepare(async_dir, 'build', 'tokB', False, check_mode=True, liveness=alive,
                            proc=proc)
    assert (result['action'], result['ansible_job_id'], result['recovered_claim']) == (
        'attach', JID, True)
    assert without_lock(snapshot(async_dir)) == before


def test_prepare_other_token_in_env_not_recovered(async_dir, tmp_path):
    proc = recovered_tree(tmp_path, 'tokC')
    write_job(async_dir, JID, RUNNING)
    write_claim(async_dir, 'build', 'tokA', when=1000.0)
    c = FakeClock(now=1002.0)
    result = claims.prepare(async_dir, 'build', 'tokB', False, liveness=alive, clock=c.clock,
                            proc=proc)
    assert result == dict(action='claimed', status=None, claim_age=2.0)


def test_prepare_own_claim_is_not_recovered(async_dir, tmp_path):
    """The env scan is for another run's claim only."""
    proc = recovered_tree(tmp_path, 'tokA')
    write_job(async_dir, JID, RUNNING)
    write_claim(async_dir, 'build', 'tokA')
    result = claims.prepare(async_dir, 'build', 'tokA', False, liveness=never, proc=proc)
    assert result['action'] == 'start'
    assert name_of(async_dir, 'build') is None


@needs_proc
def test_prepare_recovers_claimed_real_process(async_dir):
    token = 'tok-real-%d' % os.getpid()
    wrapper = FakeWrapper(env={specs.CLAIM_ENV: token})
    try:
        write_job(async_dir, wrapper.jid, dict(RUNNING, ansible_job_id=wrapper.jid))
        write_claim(async_dir, 'build', token, when=time.time())
        result = claims.prepare(async_dir, 'build', 'tokB', False)  # real /proc and liveness
        assert (result['action'], result['ansible_job_id'], result['recovered_claim']) == (
            'attach', wrapper.jid, True)
        assert result['status']['state'] == 'running'
        assert name_of(async_dir, 'build') == wrapper.jid
        assert claim_of(async_dir, 'build') is None
    finally:
        wrapper.kill()


# --- prepare: the claim left by a dead one-step start --------------------------------------------

# The job file of test_prepare_dead_one_step_claim_job_is_named_and_attached: the module's
# own result (no started key).
MODULE_RESULT = {'rc': 0, 'stdout': 'done', 'changed': True}


@pytest.mark.parametrize('data', [RUNNING, MODULE_RESULT])
@pytest.mark.parametrize('waiting', [True, False])
def test_prepare_dead_one_step_claim_job_is_named_and_attached(async_dir, tmp_path, data, waiting):
    """Found by its jid prefix, running or finished since: never started twice."""
    noproc = make_proc(tmp_path / 'proc', {})
    write_job(async_dir, 'j444.55', dict(data, ansible_job_id='j444.55'))
    write_claim(async_dir, 'build', 'tokA', when=time.time(), jid_prefix='j444')
    found = claims.prepare(async_dir, 'build', 'tokB', waiting, liveness=alive, proc=noproc)
    assert found['action'] == 'attach' and found['ansible_job_id'] == 'j444.55'
    assert found['recovered_claim'] is True
    assert name_of(async_dir, 'build') == 'j444.55' and claim_of(async_dir, 'build') is None


def test_prepare_dead_one_step_claim_without_job_is_dropped(async_dir, tmp_path):
    """Its writer died before the wrapper ran: the claim is void, whatever its age."""
    noproc = make_proc(tmp_path / 'proc', {})
    write_claim(async_dir, 'build', 'tokA', when=time.time(), jid_prefix='j444')
    found = claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, proc=noproc)
    assert found['action'] == 'start'
    assert claim_of(async_dir, 'build')['token'] == 'tokB'
    assert 'jid_prefix' not in claim_of(async_dir, 'build')


def test_prepare_dead_one_step_claim_check_mode_changes_nothing(async_dir, tmp_path):
    noproc = make_proc(tmp_path / 'proc', {})
    write_job(async_dir, 'j444.55', dict(RUNNING, ansible_job_id='j444.55'))
    write_claim(async_dir, 'build', 'tokA', when=time.time(), jid_prefix='j444')
    before = snapshot(async_dir)
    found = claims.prepare(async_dir, 'build', 'tokB', False, check_mode=True, liveness=alive,
                           proc=noproc)
    assert found['action'] == 'attach' and found['ansible_job_id'] == 'j444.55'
    assert snapshot(async_dir) == before


# --- prepare: check mode -------------------------------------------------------------------------

@pytest.mark.parametrize('setup', ['absent', 'finished', 'killed', 'stale_claim'])
def test_prepare_check_mode_writes_nothing(async_dir, noproc, setup):
    if setup in ('finished', 'killed'):
        write_job(async_dir, JID, SUCCEEDED if setup == 'finished' else KILLED)
        make_link(async_dir, 'jid_build', JID)
    elif setup == 'stale_claim':
        write_claim(async_dir, 'build', 'tokA', when=0.0)
    before = snapshot(async_dir)
    result = claims.prepare(async_dir, 'build', 'tokB', False, check_mode=True, liveness=never,
                            proc=noproc)
    assert result['action'] == 'start'
    # check mode only reads: not even the name's lock file appears
    assert snapshot(async_dir) == before


def test_prepare_check_mode_creates_no_async_dir(tmp_path, noproc):
    missing = str(tmp_path / 'nowhere')
    result = claims.prepare(missing, 'build', 'tokB', False, check_mode=True, liveness=never,
                            proc=noproc)
    assert result['action'] == 'start'
    assert not os.path.exists(missing)


def test_prepare_check_mode_attach_and_claimed(async_dir, noproc):
    write_job(async_dir, JID, RUNNING)
    make_link(async_dir, 'jid_build', JID)
    before = snapshot(async_dir)
    assert claims.prepare(async_dir, 'build', 'tokB', False, check_mode=True, liveness=alive,
                          proc=noproc)['action'] == 'attach'
    assert without_lock(snapshot(async_dir)) == before
    write_claim(async_dir, 'build', 'tokA', when=time.time())
    before = snapshot(async_dir)
    assert claims.prepare(async_dir, 'build', 'tokB', False, check_mode=True, liveness=alive,
                          proc=noproc)['action'] == 'claimed'
    assert snapshot(async_dir) == before


def test_prepare_invalid_name_target_fails(async_dir, outside, noproc):
    elsewhere = write_job(outside, JID, SUCCEEDED)
    make_link(async_dir, 'jid_build', elsewhere)
    with pytest.raises(errors.JobError) as exc:
        claims.prepare(async_dir, 'build', 'tokA', False, liveness=never, proc=noproc)
    assert 'points outside the async dir' in exc.value.msg
    assert claim_of(async_dir, 'build') is None


# --- bind ----------------------------------------------------------------------------------------

def test_bind_ours(async_dir, noproc):
    assert claims.prepare(async_dir, 'build', 'tokA', False, liveness=never,
                          proc=noproc)['action'] == 'start'
    write_job(async_dir, NEW, RUNNING)
    result = claims.bind(async_dir, 'build', 'tokA', NEW, liveness=never)
    assert result == dict(bound=True, ansible_job_id=NEW, ansible_job_alias='build',
                          alias_file=names.alias_path(async_dir, 'build'))
    assert name_of(async_dir, 'build') == NEW
    assert claim_of(async_dir, 'build') is None
    assert temp_leftovers(async_dir) == []
    # the next run attaches to it
    result = claims.prepare(async_dir, 'build', 'tokB', False, liveness=alive, proc=noproc)
    assert (result['action'], result['ansible_job_id']) == ('attach', NEW)


def test_bind_without_claim(async_dir):
    write_job(async_dir, NEW, RUNNING)
    result = claims.bind(async_dir, 'build', 'tokA', NEW, liveness=never)
    assert result['bound'] is True
    assert name_of(async_dir, 'build') == NEW
    assert claim_of(async_dir, 'build') is None


@pytest.mark.parametrize('old', [SUCCEEDED, RUNNING])
def test_bind_replaces_previous_name(async_dir, old):
    """The name of the previous job (even a running one) is taken: the claim made it ours."""
    write_job(async_dir, JID, old)
    make_link(async_dir, 'jid_build', JID)
    write_job(async_dir, NEW, RUNNING)
    write_claim(async_dir, 'build', 'tokA')
    result = claims.bind(async_dir, 'build', 'tokA', NEW, liveness=alive)
    assert result['bound'] is True
    assert name_of(async_dir, 'build') == NEW
    assert os.path.exists(os.path.join(async_dir, JID))


@pytest.mark.parametrize('name', [None, JID])
def test_bind_taken_over(async_dir, name):
    """Our claim went stale and another run took it: the name is left to that run."""
    write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, NEW, RUNNING)
    if name:
        make_link(async_dir, 'jid_build', name)
    claim = write_claim(async_dir, 'build', 'tokB')
    before = snapshot(async_dir)
    result = claims.bind(async_dir, 'build', 'tokA', NEW, liveness=never)
    assert result == dict(bound=False, ansible_job_id=NEW, ansible_job_alias='build')
    assert name_of(async_dir, 'build') == name
    assert claim_of(async_dir, 'build') == claim
    assert without_lock(snapshot(async_dir)) == before


def test_bind_missing_job_file(async_dir):
    write_claim(async_dir, 'build', 'tokA')
    with pytest.raises(errors.JobError) as exc:
        claims.bind(async_dir, 'build', 'tokA', NEW, liveness=never)
    assert exc.value.msg.startswith('job %s has no state file' % NEW)
    assert claim_of(async_dir, 'build')['token'] == 'tokA'
    assert name_of(async_dir, 'build') is None


def test_stale_takeover_flow(async_dir, noproc):
    """A claims, stalls; B takes over after stale_after and starts; A's late bind loses,
    B's wins; a third run attaches to B's job."""
    ca = FakeClock(now=1000.0)
    assert claims.prepare(async_dir, 'build', 'tokA', False, liveness=never, clock=ca.clock,
                          proc=noproc)['action'] == 'start'
    cb = FakeClock(now=1030.0)
    assert claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, clock=cb.clock,
                          proc=noproc) == dict(action='claimed', status=None, claim_age=30.0)
    cb.now = 1061.0
    assert claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, clock=cb.clock,
                          proc=noproc)['action'] == 'start'
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, NEW, RUNNING)
    assert claims.bind(async_dir, 'build', 'tokA', JID, liveness=alive)['bound'] is False
    assert name_of(async_dir, 'build') is None
    assert claims.bind(async_dir, 'build', 'tokB', NEW, liveness=alive)['bound'] is True
    assert name_of(async_dir, 'build') == NEW
    result = claims.prepare(async_dir, 'build', 'tokC', False, liveness=alive, proc=noproc)
    assert (result['action'], result['ansible_job_id']) == ('attach', NEW)


# --- abandon -------------------------------------------------------------------------------------

def test_abandon_ours(async_dir, noproc):
    assert claims.prepare(async_dir, 'build', 'tokA', False, liveness=never,
                          proc=noproc)['action'] == 'start'
    assert claims.abandon(async_dir, 'build', 'tokA') == dict(abandoned=True)
    assert claim_of(async_dir, 'build') is None
    # the name is free for the next run at once
    assert claims.prepare(async_dir, 'build', 'tokB', False, liveness=never,
                          proc=noproc)['action'] == 'start'


def test_abandon_other_kept(async_dir):
    claim = write_claim(async_dir, 'build', 'tokB')
    assert claims.abandon(async_dir, 'build', 'tokA') == dict(abandoned=False)
    assert claim_of(async_dir, 'build') == claim


@pytest.mark.parametrize('content', [None, 'garbage'])
def test_abandon_no_claim(async_dir, content):
    if content:
        with open(claims.claim_path(async_dir, 'build'), 'w') as f:
            f.write(content)
    assert claims.abandon(async_dir, 'build', 'tokA') == dict(abandoned=False)
    if content:
        with open(claims.claim_path(async_dir, 'build')) as f:
            assert f.read() == content


def test_abandon_leaves_the_name(async_dir):
    write_job(async_dir, JID, RUNNING)
    make_link(async_dir, 'jid_build', JID)
    write_claim(async_dir, 'build', 'tokA')
    assert claims.abandon(async_dir, 'build', 'tokA')['abandoned'] is True
    assert name_of(async_dir, 'build') == JID


# --- concurrency ---------------------------------------------------------------------------------

def _contender(async_dir, alias, token, proc, barrier, results):
    try:
        barrier.wait(30)
        result = claims.prepare(async_dir, alias, token, False, liveness=_dead, proc=proc)
        results.put((token, result['action']))
    except BaseException as e:  # report, do not hang the test
        results.put((token, 'error: %r' % (e,)))


def _dead(jid, owner_uid=None):
    return False, [], None


@pytest.mark.skipif('fork' not in multiprocessing.get_all_start_methods(),
                    reason='needs the fork start method')
@pytest.mark.parametrize('round_, dir_exists', [(1, False), (2, True), (3, True)])
def test_prepare_concurrent_exactly_one_starts(tmp_path, noproc, round_, dir_exists):
    """N processes prepare one absent name at the same moment, with different tokens:
    exactly one may start, the others see its fresh claim."""
    n = 6
    async_dir = str(tmp_path / 'async')
    if dir_exists:
        os.mkdir(async_dir)
    ctx = multiprocessing.get_context('fork')
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    workers = [ctx.Process(target=_contender,
                           args=(async_dir, 'build', 'tok%d' % i, noproc, barrier, results))
               for i in range(n)]
    for p in workers:
        p.start()
    try:
        got = dict(results.get(timeout=30) for _i in range(n))
    finally:
        for p in workers:
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in workers] == [0] * n
    starters = [t for t, action in got.items() if action == 'start']
    assert len(starters) == 1, got
    assert sorted(got.values()) == ['claimed'] * (n - 1) + ['start'], got
    assert claim_of(async_dir, 'build')['token'] == starters[0]
    assert temp_leftovers(async_dir) == []
    # the winner binds its job: everyone now attaches to it
    write_job(async_dir, NEW, RUNNING)
    assert claims.bind(async_dir, 'build', starters[0], NEW, liveness=alive)['bound'] is True
    for i in range(n):
        result = claims.prepare(async_dir, 'build', 'tok%d' % i, False, liveness=alive,
                                proc=noproc)
        assert (result['action'], result['ansible_job_id']) == ('attach', NEW)
