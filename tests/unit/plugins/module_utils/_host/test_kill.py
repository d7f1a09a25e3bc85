# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/kill.py: killing a job.

Covers job_processes (on tables given as lists of dicts, and on the real table),
signal_number, signal_name, _send and kill.

kill runs on real process trees shaped like async jobs. Such a job is what async_wrapper
leaves running: a watcher (a python process whose command line carries
``.../async_wrapper.py <jid prefix>``, not a group leader) that forked a runner (same
command line) which leads its own process group and started ``sleep`` children in it, a
shell with a background grandchild, and a child in a session of its own (a descendant
outside the group). The test process makes itself a child subreaper while such a job
runs, so that every process of the tree ends up its child and is reaped by it, which also
shows which signal ended each process.

The paths kill takes when processes never exit are checked on fake proc trees whose pids
are above the kernel's highest pid (so ``os.kill`` on them only gets ESRCH). These tests,
as the real ones, need Linux's /proc.
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    job_status as files, kill as killing, processes as procs, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors

from unit_helpers import (alive, dead, FakeClock, make_stat_proc, needs_proc, never, RUNNING_INT,
                          snapshot, temp_leftovers, unique_prefix, unprivileged, write_job)


# The kill tests had their own TMP ('/x/ansible-tmp-...'), only ever the directory of the
# async_wrapper.py of a command line.
TMP = '/root/.ansible/tmp/ansible-tmp-1700000000.12-345-67890'
WRAPPER = TMP + '/async_wrapper.py'
MODULE = TMP + '/AnsiballZ_command.py'
PREFIX = 'j123456789012'
JID = PREFIX + '.4242'
WRAPPER_ARGS = ['/usr/bin/python3', WRAPPER, PREFIX, '30', MODULE, '_']
PR_SET_CHILD_SUBREAPER = 36


# --- job_processes -------------------------------------------------------------------------------

def row(pid, ppid, pgid, args=('sleep', '300'), state='S'):
    return dict(pid=pid, ppid=ppid, pgid=pgid, state=state, args=list(args))


OTHER_ARGS = ['/usr/bin/python3', WRAPPER, 'j999999999999', '30', MODULE, '_']
# async_wrapper's layout: the watcher (daemonized, not a group leader) forks the runner,
# which leads its own process group; the module and its children live in that group.
TABLE = [
    row(1, 0, 1, ['/sbin/init']),
    row(50, 1, 50, ['sshd']),
    row(100, 1, 99, WRAPPER_ARGS),            # watcher (group of the gone setsid'd parent)
    row(101, 100, 101, WRAPPER_ARGS),         # runner, group leader
    row(102, 101, 101, ['/usr/bin/python3', MODULE]),  # the module
    row(103, 102, 101, ['/bin/sh', '-c', 'sleep 300 & wait']),
    row(104, 103, 101),                       # grandchild in the group
    row(105, 102, 105, ['daemon']),           # setsid'd descendant: its own group
    row(106, 105, 105),                       # ... and its child
    row(107, 1, 101),                         # reparented to init, still in the group
    row(108, 102, 101, state='Z'),            # zombie: excluded
    row(109, 1, 105),                         # in the daemon's group, not a descendant
    row(110, 1, 99, ['unrelated']),           # in the watcher's group: not the job's
    # another job
    row(200, 1, 200, OTHER_ARGS),
    row(201, 200, 201, OTHER_ARGS),
    row(202, 201, 201),
    row(203, 202, 203),
    # a process whose argument merely contains the prefix
    row(300, 1, 300, ['grep', PREFIX + '0']),
    row(301, 1, 301, ['vi', WRAPPER]),
]


def test_job_processes_async_wrapper_layout():
    assert killing.job_processes(JID, TABLE) == [100, 101, 102, 103, 104, 105, 106, 107]


def test_job_processes_daemonizing_session_leader():
    """async_wrapper daemonizes: a process with its command line calls setsid (leading
    the session and group the watcher is then in) and exits. While it is still there,
    it and its group are the job's too."""
    table = [row(99, 1, 99, WRAPPER_ARGS), row(100, 99, 99, WRAPPER_ARGS),
             row(101, 100, 101, WRAPPER_ARGS), row(102, 101, 101), row(50, 1, 50)]
    assert killing.job_processes(JID, table) == [99, 100, 101, 102]


def test_job_processes_other_job():
    assert killing.job_processes('j999999999999.1', TABLE) == [200, 201, 202, 203]


@pytest.mark.parametrize('jid', ['j1.1', 'j12345678901.4242', 'j1234567890123.4242'])
def test_job_processes_unknown_job(jid):
    assert killing.job_processes(jid, TABLE) == []


def test_job_processes_empty_table():
    assert killing.job_processes(JID, []) == []


def test_job_processes_watcher_only():
    """The runner is gone: the watcher alone; its group (not led by a wrapper) is not swept."""
    table = [row(100, 1, 99, WRAPPER_ARGS), row(110, 1, 99, ['unrelated']),
             row(111, 100, 99, ['child of watcher'])]
    assert killing.job_processes(JID, table) == [100, 111]


def test_job_processes_runner_only():
    """The watcher is gone (killed): the runner's group is still found."""
    table = [row(101, 1, 101, WRAPPER_ARGS), row(102, 101, 101), row(107, 1, 101),
             row(105, 102, 105)]
    assert killing.job_processes(JID, table) == [101, 102, 105, 107]


def test_job_processes_group_without_wrapper_leader():
    """Once the runner exited, the rest of its group is no longer recognised (the group
    id alone does not say whose it is)."""
    table = [row(100, 1, 99, WRAPPER_ARGS), row(102, 1, 101), row(107, 1, 101)]
    assert killing.job_processes(JID, table) == [100]


def test_job_processes_zombies():
    """A zombie is never listed; the runner's zombie (no command line any more, as
    /proc shows it) does not make its group the job's; a zombie wrapper's live child
    still is."""
    table = [row(101, 1, 101, [], state='Z'), row(102, 1, 101),
             row(100, 1, 99, WRAPPER_ARGS, state='Z'), row(103, 100, 103)]
    assert killing.job_processes(JID, table) == [103]


def test_job_processes_all_zombies():
    table = [row(100, 1, 99, WRAPPER_ARGS, state='Z'),
             row(101, 100, 101, WRAPPER_ARGS, state='Z')]
    assert killing.job_processes(JID, table) == []


def test_job_processes_excludes_own_pid():
    me = os.getpid()
    table = [row(100, 1, 99, WRAPPER_ARGS), row(101, 100, 101, WRAPPER_ARGS),
             row(me, 101, 101, ['python'])]
    assert killing.job_processes(JID, table) == [100, 101]


def test_job_processes_2_21_command_line():
    args = ['/usr/bin/python3', WRAPPER, PREFIX, '30', 'true', MODULE, '/usr/bin/python3',
            MODULE]
    table = [row(100, 1, 99, args), row(101, 100, 101, args), row(102, 101, 101)]
    assert killing.job_processes(JID, table) == [100, 101, 102]


def test_job_processes_cycle_in_table():
    """A table read while pids were reused can hold a parent loop: no endless walk."""
    table = [row(101, 1, 101, WRAPPER_ARGS), row(102, 103, 101), row(103, 102, 103)]
    assert killing.job_processes(JID, table) == [101, 102, 103]


def test_job_processes_known_pids_after_wrappers_are_gone():
    """Pids found before (``known``) stay the job's, and so do their descendants, while
    they live; gone or zombie ones are dropped."""
    table = [row(102, 1, 101), row(104, 102, 104), row(105, 1, 105), row(107, 1, 101),
             row(108, 1, 101, state='Z'), row(200, 1, 200)]
    assert killing.job_processes(JID, table) == []
    assert killing.job_processes(JID, table, known=[102, 105, 108, 999]) == [102, 104, 105]


def test_job_processes_known_groups_after_wrappers_are_gone():
    table = [row(102, 1, 101), row(104, 102, 104), row(106, 104, 104), row(107, 1, 101),
             row(108, 1, 101, state='Z'), row(200, 1, 200)]
    assert killing.job_processes(JID, table, groups={101}) == [102, 104, 106, 107]
    assert killing.job_processes(JID, table, known=(200,), groups=[101, 555]) == [
        102, 104, 106, 107, 200]


def test_job_processes_known_and_wrappers_together():
    table = TABLE + [row(400, 1, 400, ['stray'])]
    assert killing.job_processes(JID, table, known={400}, groups=()) == [
        100, 101, 102, 103, 104, 105, 106, 107, 400]


def test_job_processes_known_excludes_own_pid():
    me = os.getpid()
    table = [row(me, 1, 1, ['python'])]
    assert killing.job_processes(JID, table, known=[me], groups=[1]) == []


def test_job_processes_does_not_change_the_table():
    table = [dict(p, args=list(p['args'])) for p in TABLE]
    killing.job_processes(JID, table)
    assert table == TABLE


@needs_proc
def test_job_processes_real(fake_wrapper):
    """The real table with a real process shaped like a watcher (not a group leader)."""
    table = procs.process_table()
    assert killing.job_processes(fake_wrapper.jid, table) == [fake_wrapper.pid]
    assert procs.wrapper_liveness(fake_wrapper.jid)[1] == [fake_wrapper.pid]


# --- signal_number / signal_name -----------------------------------------------------------------

@pytest.mark.parametrize('value,number', [
    ('TERM', signal.SIGTERM),
    ('SIGTERM', signal.SIGTERM),
    ('term', signal.SIGTERM),
    ('sigterm', signal.SIGTERM),
    (' TERM\n', signal.SIGTERM),
    ('15', 15),
    (15, 15),
    (9, 9),
    ('9', 9),
    ('KILL', signal.SIGKILL),
    ('SIGKILL', signal.SIGKILL),
    ('INT', signal.SIGINT),
    ('HUP', signal.SIGHUP),
    ('usr1', signal.SIGUSR1),
    ('IOT', signal.SIGABRT),  # an alias name
    ('1', 1),
    (str(signal.NSIG - 1), signal.NSIG - 1),
])
def test_signal_number_good(value, number):
    result = killing.signal_number(value)
    assert result == number
    assert result.__class__ is int  # exactly a plain int (not a Signals enum), for os.kill and JSON


def bad_msg(value):
    return ('invalid signal %r: give a signal name such as TERM, INT, KILL or a number'
            % (value,))


@pytest.mark.parametrize('value', [
    'FOO', 'SIGFOO', 'SIG_DFL', 'SIG_IGN', '_DFL', 'SIG', 'NSIG', 'SIGNSIG', 'Signals',
    'SIGTERM2', 'TERM KILL', '0', 0, '999', 999, str(signal.NSIG), '', '   ', '-1', -1, '+15',
    '15.0', 15.0, None, True, 'ITIMER_REAL', 'default_int_handler', 'getsignal',
])
def test_signal_number_bad(value):
    with pytest.raises(errors.JobError) as exc:
        killing.signal_number(value)
    assert exc.value.msg == bad_msg(value)
    assert exc.value.result == {}


@pytest.mark.parametrize('value,msg', [
    ('FOO', "invalid signal 'FOO': give a signal name such as TERM, INT, KILL or a number"),
    ('SIG_DFL', "invalid signal 'SIG_DFL': give a signal name such as TERM, INT, KILL or a "
                "number"),
    (0, 'invalid signal 0: give a signal name such as TERM, INT, KILL or a number'),
    ('0', "invalid signal '0': give a signal name such as TERM, INT, KILL or a number"),
    (999, 'invalid signal 999: give a signal name such as TERM, INT, KILL or a number'),
    ('', "invalid signal '': give a signal name such as TERM, INT, KILL or a number"),
    ('-1', "invalid signal '-1': give a signal name such as TERM, INT, KILL or a number"),
])
def test_signal_number_bad_exact_message(value, msg):
    with pytest.raises(errors.JobError) as exc:
        killing.signal_number(value)
    assert exc.value.msg == msg
    assert str(exc.value) == msg


@pytest.mark.parametrize('number,name', [
    (15, 'SIGTERM'), (9, 'SIGKILL'), (2, 'SIGINT'), (1, 'SIGHUP'), (signal.SIGABRT, 'SIGABRT'),
    (signal.SIGTERM, 'SIGTERM'), (999, '999'), (0, '0'), (-1, '-1'),
])
def test_signal_name(number, name):
    assert killing.signal_name(number) == name
    assert killing.signal_name(number).__class__ is str  # exactly str, not a subclass


@pytest.mark.parametrize('value', ['TERM', 'sigint', 'kill', '1', 'IOT', 'usr2'])
def test_signal_name_round_trip(value):
    name = killing.signal_name(killing.signal_number(value))
    assert name.startswith('SIG')
    assert killing.signal_number(name) == killing.signal_number(value)


# --- kill: a real job ----------------------------------------------------------------------------

# The watcher; it forks the runner. AJ_MODE: normal, ignore_term (SIGTERM ignored, by
# its children too, as an ignored signal stays ignored across exec), children_ignore_term
# (the runner dies of SIGTERM, but its first child and the one in its own session ignore
# it) or finish_on_term (the runner writes a finished result into the job file on SIGTERM
# and exits 0).
JOB_SCRIPT = r'''
import json, os, signal, subprocess, sys, time
state, mode, job = os.environ['AJ_STATE'], os.environ['AJ_MODE'], os.environ['AJ_JOB']
runner = os.fork()
if runner:
    # The watcher. It does not reap the runner (async_wrapper's polls waitpid): a reaping
    # watcher could take the runner's exit status before its own SIGKILL lands, and the
    # test could not see how the runner ended.
    while True:
        time.sleep(60)
os.setpgid(0, 0)
if mode == 'ignore_term':
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
elif mode == 'finish_on_term':
    def finish(signum, frame):
        with open(job + '.tmp', 'w') as f:
            json.dump({'started': 1, 'finished': 1, 'ansible_job_id': os.environ['AJ_JID'],
                       'rc': 0, 'stdout': 'finished in time', 'changed': True}, f)
        os.rename(job + '.tmp', job)
        os._exit(0)
    signal.signal(signal.SIGTERM, finish)
def ignore():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
stubborn = ignore if mode == 'children_ignore_term' else None
children = [subprocess.Popen(['sleep', '300'], preexec_fn=stubborn),
            subprocess.Popen(['sleep', '300'])]
shell = subprocess.Popen(['sh', '-c', 'sleep 300 & echo $! > "$AJ_STATE/gc.tmp"; '
                          'mv "$AJ_STATE/gc.tmp" "$AJ_STATE/grandchild"; wait'])
apart = subprocess.Popen(['sleep', '300'], start_new_session=True, preexec_fn=stubborn)
path = os.path.join(state, 'grandchild')
while not os.path.exists(path):
    time.sleep(0.005)
with open(path) as f:
    grandchild = int(f.read())
pids = dict(watcher=os.getppid(), runner=os.getpid(), children=[c.pid for c in children],
            shell=shell.pid, grandchild=grandchild, apart=apart.pid)
with open(os.path.join(state, 'pids.tmp'), 'w') as f:
    json.dump(pids, f)
os.rename(os.path.join(state, 'pids.tmp'), os.path.join(state, 'pids.json'))
while True:
    time.sleep(1)
'''


def proc_state(pid):
    """The state letter of a process, or None when it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except (IOError, OSError):
        return None
    return stat[stat.rfind(')') + 2:].split()[0]


def is_dead(pid):
    return proc_state(pid) in (None, 'Z')


class RealJob:
    """A running async-job-shaped process tree and its running job file."""

    def __init__(self, async_dir, state_dir, mode='normal'):
        self.prefix = unique_prefix()
        self.jid = self.prefix + '.4242'
        self.path = write_job(async_dir, self.jid, {'started': 1, 'finished': 0,
                                                    'ansible_job_id': self.jid})
        os.mkdir(state_dir)
        env = dict(os.environ, AJ_STATE=state_dir, AJ_MODE=mode, AJ_JOB=self.path,
                   AJ_JID=self.jid)
        self.watcher = subprocess.Popen(
            [sys.executable, '-c', JOB_SCRIPT, TMP + '/async_wrapper.py', self.prefix, '30',
             TMP + '/AnsiballZ_command.py', '_'], env=env)
        pids_file = os.path.join(state_dir, 'pids.json')
        deadline = time.time() + 15
        while not os.path.exists(pids_file):
            if self.watcher.poll() is not None or time.time() > deadline:
                self.cleanup()
                raise AssertionError('the job tree did not start')
            time.sleep(0.005)
        with open(pids_file) as f:
            p = json.load(f)
        assert p['watcher'] == self.watcher.pid
        self.runner = p['runner']
        self.children = p['children']
        self.shell = p['shell']
        self.grandchild = p['grandchild']
        self.apart = p['apart']

    def roles(self, ended):
        """``ended`` keyed by role, for readable assertion messages."""
        role_of = dict([(self.watcher.pid, 'watcher'), (self.runner, 'runner'),
                        (self.shell, 'shell'), (self.grandchild, 'grandchild'),
                        (self.apart, 'apart')]
                       + [(pid, 'child%d' % i) for i, pid in enumerate(self.children)])
        return dict((role_of[pid], how) for pid, how in ended.items())

    @property
    def pids(self):
        return sorted([self.watcher.pid, self.runner, self.shell, self.grandchild, self.apart]
                      + self.children)

    def reap(self, timeout=10):
        """Wait for every process of the tree to end; returns {pid: how it ended}: a
        signal name, 'exit <code>', or None when it was not our child to reap."""
        ended = {}
        deadline = time.time() + timeout
        self.watcher.wait(timeout)
        ended[self.watcher.pid] = (signal.Signals(-self.watcher.returncode).name
                                   if self.watcher.returncode < 0
                                   else 'exit %d' % self.watcher.returncode)
        for pid in self.pids:
            if pid == self.watcher.pid:
                continue
            while True:
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:  # not ours (no subreaper): wait until it is dead
                    if is_dead(pid):
                        ended[pid] = None
                        break
                else:
                    if done:
                        ended[pid] = (signal.Signals(os.WTERMSIG(status)).name
                                      if os.WIFSIGNALED(status)
                                      else 'exit %d' % os.WEXITSTATUS(status))
                        break
                assert time.time() < deadline, 'process %d did not end' % pid
                time.sleep(0.005)
        return ended

    def cleanup(self):
        """Whatever the test did: SIGKILL what is left of the tree and reap it."""
        others = getattr(self, 'children', []) + [
            getattr(self, n, None) for n in ('runner', 'shell', 'grandchild', 'apart')]
        for pid in others:
            if pid and not is_dead(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.watcher.poll() is None:
            self.watcher.kill()
        self.watcher.wait()
        if hasattr(self, 'apart'):
            self.reap()


@pytest.fixture
def subreaper():
    """Make this process a child subreaper while the test runs (orphans of the job tree
    become its children, so they can be reaped and their end seen)."""
    libc = ctypes.CDLL(None, use_errno=True)
    ok = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield ok
    finally:
        if ok:
            libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture
def real_job(async_dir, tmp_path, subreaper):
    jobs = []

    def start(mode='normal'):
        job = RealJob(async_dir, str(tmp_path / ('state%d' % len(jobs))), mode)
        jobs.append(job)
        return job

    start.subreaper = subreaper
    try:
        yield start
    finally:
        for job in jobs:
            job.cleanup()


def killed_msg(jid, name='SIGTERM'):
    return 'job %s was killed by asyncjobs.named.async_kill with %s' % (jid, name)


def read(path):
    with open(path) as f:
        return json.load(f)


@needs_proc
@pytest.mark.parametrize('sig', ['TERM', 15, 'sigterm'])
def test_kill_real_job(async_dir, real_job, fake_wrapper, sig):
    job = real_job()
    bystander = subprocess.Popen(['sleep', '300'])  # in the test's own process group
    try:
        t0 = time.time()
        result = killing.kill(async_dir, job.jid, sig, grace=10)
        elapsed = time.time() - t0
        # every process of the job is dead when kill returns
        assert [pid for pid in job.pids if not is_dead(pid)] == []
        # and nothing else was touched: another job's wrapper, a process of our group
        assert proc_state(fake_wrapper.pid) not in (None, 'Z')
        assert proc_state(bystander.pid) not in (None, 'Z')
        assert proc_state(os.getpid()) == 'R'
    finally:
        bystander.kill()
        bystander.wait()
    assert elapsed < 5  # no need to wait out the grace: all exited on SIGTERM

    msg = killed_msg(job.jid)
    assert read(job.path) == dict(started=True, finished=True, failed=True, killed=True,
                                  ansible_job_id=job.jid, msg=msg, signal='SIGTERM')
    assert temp_leftovers(async_dir) == []
    assert result == dict(
        started=1, finished=1, failed=True, killed=True, pid_missing=False, state='killed',
        ansible_job_id=job.jid, results_file=job.path, msg=msg, signal='SIGTERM',
        changed=True, pids=job.pids, unstopped=[])

    ended = job.roles(job.reap())
    # the watcher is stopped first with SIGKILL (it must not report a timeout meanwhile);
    # the rest got the signal asked for and needed no more
    assert ended.pop('watcher') == 'SIGKILL'
    if real_job.subreaper:
        assert ended == dict((role, 'SIGTERM') for role in ended)
    for pid in job.pids:
        assert proc_state(pid) is None or not real_job.subreaper


@needs_proc
def test_kill_real_job_ignoring_sigterm_gets_sigkill(async_dir, real_job):
    job = real_job('ignore_term')
    t0 = time.time()
    result = killing.kill(async_dir, job.jid, 'TERM', grace=0.3)
    elapsed = time.time() - t0
    assert [pid for pid in job.pids if not is_dead(pid)] == []
    assert 0.3 <= elapsed < 5
    msg = killed_msg(job.jid)  # no "did not exit": SIGKILL did it
    assert read(job.path)['msg'] == msg
    assert (result['state'], result['msg'], result['pids'], result['signal']) == (
        'killed', msg, job.pids, 'SIGTERM')
    ended = job.roles(job.reap())
    if real_job.subreaper:
        assert ended == dict((role, 'SIGKILL') for role in ended)


@needs_proc
def test_kill_real_job_children_ignoring_sigterm_get_sigkill(async_dir, real_job):
    """The wrappers are gone after the first signal, but the processes that ignored it
    (one in the runner's group, one in a session of its own) still get the SIGKILL."""
    job = real_job('children_ignore_term')
    t0 = time.time()
    result = killing.kill(async_dir, job.jid, 'TERM', grace=0.3)
    elapsed = time.time() - t0
    assert [pid for pid in job.pids if not is_dead(pid)] == []
    assert 0.3 <= elapsed < 5
    assert (result['state'], result['msg'], result['pids']) == (
        'killed', killed_msg(job.jid), job.pids)
    ended = job.roles(job.reap())
    if real_job.subreaper:
        stubborn = ('child0', 'apart', 'watcher')
        assert ended == dict((role, 'SIGKILL' if role in stubborn else 'SIGTERM')
                             for role in ended)


@needs_proc
def test_kill_real_job_finishing_during_grace_keeps_its_result(async_dir, real_job):
    """The runner writes its result on SIGTERM and exits: the job was not killed."""
    job = real_job('finish_on_term')
    result = killing.kill(async_dir, job.jid, 'TERM', grace=10)
    assert [pid for pid in job.pids if not is_dead(pid)] == []
    data = read(job.path)
    assert data == {'started': 1, 'finished': 1, 'ansible_job_id': job.jid, 'rc': 0,
                    'stdout': 'finished in time', 'changed': True}
    assert result == dict(data, started=1, finished=1, killed=False, pid_missing=False,
                          state='succeeded', results_file=job.path, changed=True,
                          pids=job.pids, signal='SIGTERM', unstopped=[])
    ended = job.roles(job.reap())
    if real_job.subreaper:
        assert ended.pop('runner') == 'exit 0'
        assert ended.pop('watcher') == 'SIGKILL'
        assert ended == dict((role, 'SIGTERM') for role in ended)


@needs_proc
def test_kill_real_job_check_mode(async_dir, real_job):
    job = real_job()
    before = snapshot(async_dir)
    result = killing.kill(async_dir, job.jid, 'KILL', grace=0, check_mode=True)
    assert result == dict(started=1, finished=0, killed=False, pid_missing=False,
                          state='running', ansible_job_id=job.jid, results_file=job.path,
                          changed=True, pids=job.pids, signal='SIGKILL', unstopped=[])
    time.sleep(0.05)
    assert [pid for pid in job.pids if is_dead(pid)] == []
    assert snapshot(async_dir) == before
    # and for real afterwards
    result = killing.kill(async_dir, job.jid, 'KILL', grace=0)
    assert result['msg'] == killed_msg(job.jid, 'SIGKILL')
    assert [pid for pid in job.pids if not is_dead(pid)] == []


@needs_proc
def test_kill_real_finished_job_is_not_changed(async_dir, fake_wrapper):
    """The file says finished: whatever still runs under its prefix is left alone."""
    write_job(async_dir, fake_wrapper.jid, {'started': 1, 'finished': 1, 'rc': 0})
    before = snapshot(async_dir)
    result = killing.kill(async_dir, fake_wrapper.jid, 'KILL', grace=0)
    assert result['changed'] is False
    assert (result['pids'], result['signal'], result['state']) == ([], 'SIGKILL', 'succeeded')
    assert snapshot(async_dir) == before
    time.sleep(0.05)
    assert fake_wrapper.proc.poll() is None


# --- kill: no process to signal, or nothing to do ------------------------------------------------

@needs_proc
@pytest.mark.parametrize('data,state', [
    ({'started': 1, 'finished': 1, 'rc': 0}, 'succeeded'),
    ({'started': 1, 'finished': 1, 'failed': True, 'rc': 1}, 'failed'),
    ({'started': True, 'finished': True, 'killed': True, 'failed': True, 'msg': 'x'}, 'killed'),
    ({'msg': 'Timeout exceeded', 'failed': True}, 'timed_out'),
])
def test_kill_finished_job_is_not_changed(async_dir, tmp_path, data, state):
    write_job(async_dir, 'j1.1', data)
    before = snapshot(async_dir)
    proc = make_stat_proc(tmp_path / 'proc', {})
    result = killing.kill(async_dir, 'j1.1', 'TERM', liveness=never, proc=proc,
                          sleep=never, clock=never)
    assert result == dict(files.job_status(async_dir, jid='j1.1', liveness=never),
                          changed=False, pids=[], signal='SIGTERM', unstopped=[])
    assert result['state'] == state
    assert snapshot(async_dir) == before


@needs_proc
def test_kill_orphaned_job_is_not_changed(async_dir, tmp_path):
    write_job(async_dir, 'j1.1', RUNNING_INT)
    before = snapshot(async_dir)
    result = killing.kill(async_dir, 'j1.1', 'TERM', liveness=dead,
                          proc=str(tmp_path / 'never-read'), sleep=never)
    assert (result['state'], result['changed'], result['pids']) == ('orphaned', False, [])
    assert snapshot(async_dir) == before


@needs_proc
def test_kill_unknown_jid(async_dir):
    with pytest.raises(errors.JobError) as exc:
        killing.kill(async_dir, 'j1.1', liveness=never)
    assert exc.value.msg == 'could not find job'


@needs_proc
def test_kill_bad_signal_fails_first(async_dir):
    with pytest.raises(errors.JobError) as exc:
        killing.kill(async_dir, 'j1.1', 'FOO', liveness=never)
    assert exc.value.msg == ('invalid signal \'FOO\': give a signal name such as TERM, INT, '
                             'KILL or a number')


@needs_proc
def test_kill_running_without_processes(async_dir, tmp_path):
    """Liveness saw the wrapper, but its processes are gone by the time of the scan: the
    job is marked killed, with no pid."""
    path = write_job(async_dir, 'j1.1', RUNNING_INT)
    proc = make_stat_proc(tmp_path / 'proc', {})
    c = FakeClock()
    result = killing.kill(async_dir, 'j1.1', 'INT', grace=3, liveness=alive, proc=proc,
                          sleep=c.sleep, clock=c.clock)
    assert c.sleeps == []
    assert (result['state'], result['changed'], result['pids'], result['signal']) == (
        'killed', True, [], 'SIGINT')
    assert read(path)['msg'] == killed_msg('j1.1', 'SIGINT')


# --- kill: fake proc trees, processes that exit late or never ------------------------------------

BASE = 4194400  # above any pid_max (at most 2**22): os.kill gets ESRCH, nothing is hit
TREE = {
    BASE + 1: dict(args=WRAPPER_ARGS, ppid=1, pgid=BASE),          # watcher
    BASE + 2: dict(args=WRAPPER_ARGS, ppid=BASE + 1, pgid=BASE + 2),  # runner
    BASE + 3: dict(args=['sleep', '300'], ppid=BASE + 2, pgid=BASE + 2),
    BASE + 9: dict(args=['unrelated'], ppid=1, pgid=BASE + 9),
}
TREE_PIDS = [BASE + 1, BASE + 2, BASE + 3]


@needs_proc
def test_fake_pids_are_impossible():
    with open('/proc/sys/kernel/pid_max') as f:
        assert int(f.read()) < BASE
    with pytest.raises(ProcessLookupError):
        os.kill(BASE + 1, 0)


def fake_tree(tmp_path):
    return make_stat_proc(tmp_path / 'proc', TREE)


def vanish(proc, pids):
    for pid in pids:
        d = os.path.join(proc, str(pid))
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)


@needs_proc
def test_kill_fake_never_exit(async_dir, tmp_path):
    """Processes that survive even SIGKILL: grace, then up to 50 more looks, then the
    job is marked killed all the same, saying which processes stayed."""
    path = write_job(async_dir, JID, RUNNING_INT)
    proc = fake_tree(tmp_path)
    c = FakeClock()
    result = killing.kill(async_dir, JID, 'TERM', grace=2, liveness=alive, proc=proc,
                          sleep=c.sleep, clock=c.clock)
    assert result['pids'] == TREE_PIDS
    grace_sleeps = len(c.sleeps) - 50
    assert 19 <= grace_sleeps <= 21  # 2 s of 0.1 s sleeps
    assert set(c.sleeps) == {0.1}
    msg = (killed_msg(JID) + '; processes %s did not exit even after SIGKILL' % TREE_PIDS)
    assert result['msg'] == msg
    assert read(path) == dict(started=True, finished=True, failed=True, killed=True,
                              ansible_job_id=JID, msg=msg, signal='SIGTERM')
    assert result['state'] == 'killed'


@needs_proc
@pytest.mark.parametrize('grace', [0, -1])
def test_kill_fake_no_grace(async_dir, tmp_path, grace):
    write_job(async_dir, JID, RUNNING_INT)
    proc = fake_tree(tmp_path)
    c = FakeClock()
    killing.kill(async_dir, JID, 'TERM', grace=grace, liveness=alive, proc=proc, sleep=c.sleep,
                 clock=c.clock)
    assert len(c.sleeps) == 50  # SIGKILL right away, then the looks


@needs_proc
@pytest.mark.parametrize('after', [1, 5])
def test_kill_fake_exit_during_grace(async_dir, tmp_path, after):
    path = write_job(async_dir, JID, RUNNING_INT)
    proc = fake_tree(tmp_path)

    def on_sleep(n):
        if n == after:
            vanish(proc, TREE_PIDS)

    c = FakeClock(on_sleep=on_sleep)
    result = killing.kill(async_dir, JID, 'HUP', grace=2, liveness=alive, proc=proc,
                          sleep=c.sleep, clock=c.clock)
    assert len(c.sleeps) == after
    assert result['msg'] == killed_msg(JID, 'SIGHUP')
    assert result['pids'] == TREE_PIDS
    assert read(path)['signal'] == 'SIGHUP'


@needs_proc
def test_kill_fake_exit_after_sigkill(async_dir, tmp_path):
    path = write_job(async_dir, JID, RUNNING_INT)
    proc = fake_tree(tmp_path)
    c = FakeClock()

    def on_sleep(n):
        if c.now >= 1002.3:
            vanish(proc, TREE_PIDS)

    c.on_sleep = on_sleep
    result = killing.kill(async_dir, JID, 'TERM', grace=2, liveness=alive, proc=proc,
                          sleep=c.sleep, clock=c.clock)
    assert 22 <= len(c.sleeps) <= 24
    assert result['msg'] == killed_msg(JID)
    assert read(path)['killed'] is True


@needs_proc
def test_kill_fake_partial_exit(async_dir, tmp_path):
    """Only the ones still there are named."""
    write_job(async_dir, JID, RUNNING_INT)
    proc = fake_tree(tmp_path)
    c = FakeClock(on_sleep=lambda n: n == 1 and vanish(proc, [BASE + 1, BASE + 3]))
    result = killing.kill(async_dir, JID, 'TERM', grace=1, liveness=alive, proc=proc,
                          sleep=c.sleep, clock=c.clock)
    assert result['msg'].endswith('; processes [%d] did not exit even after SIGKILL'
                                  % (BASE + 2))
    assert result['pids'] == TREE_PIDS


@needs_proc
def test_kill_fake_finishes_during_grace(async_dir, tmp_path):
    path = write_job(async_dir, JID, RUNNING_INT)
    proc = fake_tree(tmp_path)
    done = {'started': 1, 'finished': 1, 'rc': 0, 'stdout': 'made it'}

    def on_sleep(n):
        if n == 2:
            changes.atomic_write_json(path, done)
            vanish(proc, TREE_PIDS)

    c = FakeClock(on_sleep=on_sleep)
    result = killing.kill(async_dir, JID, 'TERM', grace=5, liveness=alive, proc=proc,
                          sleep=c.sleep, clock=c.clock)
    assert read(path) == done
    assert result['state'] == 'succeeded'
    assert (result['stdout'], result['changed'], result['pids'], result['signal']) == (
        'made it', True, TREE_PIDS, 'SIGTERM')
    assert 'msg' not in result


@needs_proc
def test_kill_fake_new_process_during_grace(async_dir, tmp_path):
    """A process the job starts after the first scan is found: it gets the SIGKILL too,
    and is named when it stays."""
    write_job(async_dir, JID, RUNNING_INT)
    proc = fake_tree(tmp_path)

    def on_sleep(n):
        if n == 1:
            vanish(proc, TREE_PIDS[:1] + TREE_PIDS[2:])
            d = os.path.join(proc, str(BASE + 7))
            os.mkdir(d)
            with open(os.path.join(d, 'stat'), 'w') as f:
                f.write('%d (late) S %d %d 0\n' % (BASE + 7, BASE + 2, BASE + 2))
            with open(os.path.join(d, 'cmdline'), 'wb') as f:
                f.write(b'late\0')

    c = FakeClock(on_sleep=on_sleep)
    result = killing.kill(async_dir, JID, 'TERM', grace=1, liveness=alive, proc=proc,
                          sleep=c.sleep, clock=c.clock)
    assert result['pids'] == TREE_PIDS
    assert result['msg'].endswith('; processes [%d, %d] did not exit even after SIGKILL'
                                  % (BASE + 2, BASE + 7))


# --- _send ---------------------------------------------------------------------------------------

@needs_proc
def test_send_ignores_gone_processes():
    """A process that is gone (ESRCH) is no error, and does not stop the others from
    getting the signal: an exited, reaped child's pid and impossible pids (above pid_max)
    before and after a live process, which is ended by the signal."""
    gone = subprocess.Popen(['true'])
    gone.wait()  # exited and reaped: its pid names no process any more
    live = subprocess.Popen(['sleep', '300'])
    try:
        pids = [BASE + 1, live.pid, BASE + 2]
        if not os.path.exists('/proc/%d' % gone.pid):  # not reused meanwhile
            pids.insert(0, gone.pid)
            with pytest.raises(ProcessLookupError):
                os.kill(gone.pid, 0)
        assert killing._send(pids, signal.SIGTERM) is None
        assert live.wait(10) == -signal.SIGTERM
    finally:
        if live.poll() is None:
            live.kill()
        live.wait()


@needs_proc
def test_send_signals_each(tmp_path):
    children = [subprocess.Popen(['sleep', '300']) for _i in range(2)]
    try:
        killing._send([p.pid for p in children] + [BASE + 1], signal.SIGUSR1)
        assert [p.wait(10) for p in children] == [-signal.SIGUSR1] * 2
    finally:
        for p in children:
            if p.poll() is None:
                p.kill()
            p.wait()


@needs_proc
def test_send_other_errors_raise():
    """Not permitted (EPERM) is an error, not a gone process."""
    if os.geteuid() != 0:
        with pytest.raises(PermissionError):
            killing._send([1], 0)
        return
    # As root with the effective uid of nobody, the real uid is still 0: only a process
    # of a third user is out of reach.
    other = subprocess.Popen(['sleep', '300'], user=12345, group=12345)
    try:
        with unprivileged():
            with pytest.raises(PermissionError):
                killing._send([other.pid], signal.SIGTERM)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
