# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_async_control: process_table, job_processes, signal_number, signal_name.

process_table is checked on the real /proc with real processes, on fake proc trees
(real directories with stat and cmdline files) and, without /proc, on the real and on
a fake ``ps``. job_processes works on tables given as lists of dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import signal
import subprocess
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils import _async_kill as killing
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_names as names
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_procs as procs

from unit_helpers import make_stat_proc

HAS_PROC = os.path.isdir('/proc/self')
needs_proc = pytest.mark.skipif(not HAS_PROC, reason='no /proc on this machine')
needs_ps = pytest.mark.skipif(shutil.which('ps') is None, reason='no ps command')

TMP = '/root/.ansible/tmp/ansible-tmp-1700000000.12-345-67890'
WRAPPER = TMP + '/async_wrapper.py'
MODULE = TMP + '/AnsiballZ_command.py'
PREFIX = 'j123456789012'
JID = PREFIX + '.4242'
WRAPPER_ARGS = ['/usr/bin/python3', WRAPPER, PREFIX, '30', MODULE, '_']


def by_pid(table):
    return dict((p['pid'], p) for p in table)


def wait_for_cmdline(pid, word):
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                if word.encode() in f.read().split(b'\0'):
                    return
        except (IOError, OSError):
            pass
        time.sleep(0.01)
    raise AssertionError('process %d never showed %r' % (pid, word))


# --- process_table: the real /proc --------------------------------------------------------------

@needs_proc
def test_process_table_real_own_process():
    table = by_pid(procs.process_table())
    me = table[os.getpid()]
    assert me['ppid'] == os.getppid()
    assert me['pgid'] == os.getpgrp()
    assert me['state'] == 'R'  # it is running: it is reading its own stat
    with open('/proc/self/cmdline', 'rb') as f:
        assert me['args'] == [a for a in f.read().decode().split('\0') if a]
    assert set(me) == {'pid', 'ppid', 'pgid', 'state', 'args'}
    assert table[1]['ppid'] == 0


@needs_proc
def test_process_table_real_children():
    """A child leading its own process group, one in ours, and a zombie (exited,
    not reaped yet)."""
    leader = subprocess.Popen(['sleep', '61'], start_new_session=True)
    member = subprocess.Popen(['sleep', '62'])
    zombie = subprocess.Popen(['true'])
    try:
        wait_for_cmdline(leader.pid, '61')
        wait_for_cmdline(member.pid, '62')
        deadline = time.time() + 10
        while by_pid(procs.process_table()).get(zombie.pid, {}).get('state') != 'Z':
            assert time.time() < deadline, 'the zombie never showed'
            time.sleep(0.01)
        table = by_pid(procs.process_table())
        assert table[leader.pid].pop('state') in ('S', 'R')
        assert table[leader.pid] == dict(pid=leader.pid, ppid=os.getpid(), pgid=leader.pid,
                                         args=['sleep', '61'])
        assert table[member.pid].pop('state') in ('S', 'R')
        assert table[member.pid] == dict(pid=member.pid, ppid=os.getpid(), pgid=os.getpgrp(),
                                         args=['sleep', '62'])
        assert table[zombie.pid]['state'] == 'Z'
        assert table[zombie.pid]['args'] == []  # a zombie has no command line any more
    finally:
        for p in (leader, member, zombie):
            if p.poll() is None:
                p.kill()
            p.wait()


@needs_proc
def test_process_table_real_default_is_proc():
    assert os.getpid() in by_pid(procs.process_table('/proc'))


# --- process_table: fake proc trees -------------------------------------------------------------

@pytest.mark.parametrize('comm', [
    'sleep',
    'my odd name',
    '(my (odd) name)',
    'a) R 1 2 (b',
    ') Z 9 9 9',
    'x)',
])
def test_process_table_fake_odd_command_names(tmp_path, comm):
    """The name in ``stat`` is in parentheses and may hold spaces and parentheses: the
    fields are read after the last ')'."""
    proc = make_stat_proc(tmp_path / 'proc', {
        4321: dict(args=['/bin/odd', 'arg with space', ''], ppid=77, pgid=4300, state='S',
                   comm=comm),
    })
    assert procs.process_table(proc) == [dict(pid=4321, ppid=77, pgid=4300, state='S',
                                           args=['/bin/odd', 'arg with space'])]


def test_process_table_fake_tree(tmp_path):
    proc = make_stat_proc(tmp_path / 'proc', {
        1: dict(args=['/sbin/init'], ppid=0, pgid=1),
        2: dict(args=[], ppid=0, pgid=0, comm='kthreadd'),  # kernel thread: empty cmdline
        100: dict(args=WRAPPER_ARGS, ppid=1, pgid=99, state='S'),
        101: dict(args=WRAPPER_ARGS, ppid=100, pgid=101, state='R'),
        102: dict(args=['sleep', '300'], ppid=101, pgid=101, state='D'),
        103: dict(args=None, ppid=101, pgid=101, state='Z'),  # no cmdline file: skipped
        104: dict(args=['sleep', '1'], ppid=101, pgid=101, stat=False),  # no stat: skipped
    })
    for name in ('mounts', 'uptime'):
        with open(os.path.join(proc, name), 'w') as f:
            f.write('x\n')
    os.mkdir(os.path.join(proc, 'sys'))
    table = sorted(procs.process_table(proc), key=lambda p: p['pid'])
    assert table == [
        dict(pid=1, ppid=0, pgid=1, state='S', args=['/sbin/init']),
        dict(pid=2, ppid=0, pgid=0, state='S', args=[]),
        dict(pid=100, ppid=1, pgid=99, state='S', args=WRAPPER_ARGS),
        dict(pid=101, ppid=100, pgid=101, state='R', args=WRAPPER_ARGS),
        dict(pid=102, ppid=101, pgid=101, state='D', args=['sleep', '300']),
    ]


def test_process_table_fake_empty(tmp_path):
    assert procs.process_table(make_stat_proc(tmp_path / 'proc', {})) == []


def test_process_table_fake_non_utf8(tmp_path):
    proc = make_stat_proc(tmp_path / 'proc', {7: dict(args=['x'], ppid=1, pgid=7)})
    with open(os.path.join(proc, '7', 'cmdline'), 'wb') as f:
        f.write(b'/bin/\xff\xfe\0arg\0')
    assert procs.process_table(proc) == [dict(pid=7, ppid=1, pgid=7, state='S',
                                           args=['/bin/\ufffd\ufffd', 'arg'])]


# --- process_table: ps, when there is no /proc ----------------------------------------------------

PS_OUTPUT = '''\
    1     0     1 Ss   /sbin/init splash
  100     1    99 S    /usr/bin/python3 %s %s 30 %s _
  101   100   101 R+   /usr/bin/python3 %s %s 30 %s _
  102   101   101 Z
  103   101   101 D    sleep 300
PID PPID PGID S COMMAND
  104   1
''' % (WRAPPER, PREFIX, MODULE, WRAPPER, PREFIX, MODULE)


def fake_ps(tmp_path, monkeypatch, body):
    d = tmp_path / 'bin'
    d.mkdir()
    ps = d / 'ps'
    ps.write_text('#!/bin/sh\n' + body)
    ps.chmod(0o755)
    monkeypatch.setenv('PATH', os.pathsep.join([str(d), os.environ.get('PATH', os.defpath)]))


def test_process_table_ps_fake(tmp_path, monkeypatch):
    out = tmp_path / 'ps-args'
    fake_ps(tmp_path, monkeypatch, 'echo "$@ COLUMNS=${COLUMNS-unset}" > %s\ncat <<\'EOF\'\n%sEOF\n'
            % (out, PS_OUTPUT))
    monkeypatch.setenv('COLUMNS', '40')
    proc = tmp_path / 'notproc'
    proc.mkdir()  # a dir, but without self/: not a usable proc
    table = procs.process_table(str(proc))
    assert table == [
        dict(pid=1, ppid=0, pgid=1, state='S', args=['/sbin/init', 'splash']),
        dict(pid=100, ppid=1, pgid=99, state='S', args=WRAPPER_ARGS),
        dict(pid=101, ppid=100, pgid=101, state='R', args=WRAPPER_ARGS),
        dict(pid=102, ppid=101, pgid=101, state='Z', args=[]),
        dict(pid=103, ppid=101, pgid=101, state='D', args=['sleep', '300']),
    ]
    # POSIX options only, and no COLUMNS to cut the arguments (and the jid) off
    assert out.read_text() == ('-A -o pid= -o ppid= -o pgid= -o state= -o args= '
                               'COLUMNS=unset\n')
    assert killing.job_processes(JID, table) == [100, 101, 103]


def test_process_table_ps_fails(tmp_path, monkeypatch):
    fake_ps(tmp_path, monkeypatch, 'exit 1\n')
    with pytest.raises(subprocess.CalledProcessError):
        procs.process_table(str(tmp_path / 'noproc'))


@needs_ps
def test_process_table_ps_real(tmp_path):
    child = subprocess.Popen(['sleep', '63'], start_new_session=True)
    try:
        if HAS_PROC:
            wait_for_cmdline(child.pid, '63')
        else:
            time.sleep(0.2)
        table = by_pid(procs.process_table(str(tmp_path / 'noproc')))
        me = table[os.getpid()]
        assert (me['ppid'], me['pgid']) == (os.getppid(), os.getpgrp())
        assert table[child.pid].pop('state') in ('S', 'R')
        assert table[child.pid] == dict(pid=child.pid, ppid=os.getpid(), pgid=child.pid,
                                        args=['sleep', '63'])
    finally:
        child.kill()
        child.wait()


@needs_proc
@needs_ps
def test_process_table_proc_and_ps_agree(tmp_path):
    """For the processes that stay put, /proc and ps give the same pid, ppid and pgid."""
    mine = subprocess.Popen(['sleep', '60'])
    try:
        wait_for_cmdline(mine.pid, '60')
        first = by_pid(procs.process_table())
        ps = by_pid(procs.process_table(str(tmp_path / 'noproc')))
        last = by_pid(procs.process_table())
        for pid in (1, os.getpid(), mine.pid):
            assert (ps[pid]['ppid'], ps[pid]['pgid']) == (first[pid]['ppid'], first[pid]['pgid'])
        stable = [pid for pid in first if pid in last and first[pid] == last[pid]
                  and pid in ps and first[pid]['state'] not in ('Z',)]
        for pid in stable:
            assert (ps[pid]['ppid'], ps[pid]['pgid']) == (first[pid]['ppid'], first[pid]['pgid'])
    finally:
        mine.kill()
        mine.wait()


# --- job_processes ------------------------------------------------------------------------------

def proc(pid, ppid, pgid, args=('sleep', '300'), state='S'):
    return dict(pid=pid, ppid=ppid, pgid=pgid, state=state, args=list(args))


OTHER_ARGS = ['/usr/bin/python3', WRAPPER, 'j999999999999', '30', MODULE, '_']

# async_wrapper's layout: the watcher (daemonized, not a group leader) forks the runner,
# which leads its own process group; the module and its children live in that group.
TABLE = [
    proc(1, 0, 1, ['/sbin/init']),
    proc(50, 1, 50, ['sshd']),
    proc(100, 1, 99, WRAPPER_ARGS),            # watcher (group of the gone setsid'd parent)
    proc(101, 100, 101, WRAPPER_ARGS),         # runner, group leader
    proc(102, 101, 101, ['/usr/bin/python3', MODULE]),  # the module
    proc(103, 102, 101, ['/bin/sh', '-c', 'sleep 300 & wait']),
    proc(104, 103, 101),                       # grandchild in the group
    proc(105, 102, 105, ['daemon']),           # setsid'd descendant: its own group
    proc(106, 105, 105),                       # ... and its child
    proc(107, 1, 101),                         # reparented to init, still in the group
    proc(108, 102, 101, state='Z'),            # zombie: excluded
    proc(109, 1, 105),                         # in the daemon's group, not a descendant
    proc(110, 1, 99, ['unrelated']),           # in the watcher's group: not the job's
    # another job
    proc(200, 1, 200, OTHER_ARGS),
    proc(201, 200, 201, OTHER_ARGS),
    proc(202, 201, 201),
    proc(203, 202, 203),
    # a process whose argument merely contains the prefix
    proc(300, 1, 300, ['grep', PREFIX + '0']),
    proc(301, 1, 301, ['vi', WRAPPER]),
]


def test_job_processes_async_wrapper_layout():
    assert killing.job_processes(JID, TABLE) == [100, 101, 102, 103, 104, 105, 106, 107]


def test_job_processes_daemonizing_session_leader():
    """async_wrapper daemonizes: a process with its command line calls setsid (leading
    the session and group the watcher is then in) and exits. While it is still there,
    it and its group are the job's too."""
    table = [proc(99, 1, 99, WRAPPER_ARGS), proc(100, 99, 99, WRAPPER_ARGS),
             proc(101, 100, 101, WRAPPER_ARGS), proc(102, 101, 101), proc(50, 1, 50)]
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
    table = [proc(100, 1, 99, WRAPPER_ARGS), proc(110, 1, 99, ['unrelated']),
             proc(111, 100, 99, ['child of watcher'])]
    assert killing.job_processes(JID, table) == [100, 111]


def test_job_processes_runner_only():
    """The watcher is gone (killed): the runner's group is still found."""
    table = [proc(101, 1, 101, WRAPPER_ARGS), proc(102, 101, 101), proc(107, 1, 101),
             proc(105, 102, 105)]
    assert killing.job_processes(JID, table) == [101, 102, 105, 107]


def test_job_processes_group_without_wrapper_leader():
    """Once the runner exited, the rest of its group is no longer recognised (the group
    id alone does not say whose it is)."""
    table = [proc(100, 1, 99, WRAPPER_ARGS), proc(102, 1, 101), proc(107, 1, 101)]
    assert killing.job_processes(JID, table) == [100]


def test_job_processes_zombies():
    """A zombie is never listed; the runner's zombie (no command line any more, as
    /proc shows it) does not make its group the job's; a zombie wrapper's live child
    still is."""
    table = [proc(101, 1, 101, [], state='Z'), proc(102, 1, 101),
             proc(100, 1, 99, WRAPPER_ARGS, state='Z'), proc(103, 100, 103)]
    assert killing.job_processes(JID, table) == [103]


def test_job_processes_all_zombies():
    table = [proc(100, 1, 99, WRAPPER_ARGS, state='Z'),
             proc(101, 100, 101, WRAPPER_ARGS, state='Z')]
    assert killing.job_processes(JID, table) == []


def test_job_processes_excludes_own_pid():
    me = os.getpid()
    table = [proc(100, 1, 99, WRAPPER_ARGS), proc(101, 100, 101, WRAPPER_ARGS),
             proc(me, 101, 101, ['python'])]
    assert killing.job_processes(JID, table) == [100, 101]


def test_job_processes_2_21_command_line():
    args = ['/usr/bin/python3', WRAPPER, PREFIX, '30', 'true', MODULE, '/usr/bin/python3',
            MODULE]
    table = [proc(100, 1, 99, args), proc(101, 100, 101, args), proc(102, 101, 101)]
    assert killing.job_processes(JID, table) == [100, 101, 102]


def test_job_processes_cycle_in_table():
    """A table read while pids were reused can hold a parent loop: no endless walk."""
    table = [proc(101, 1, 101, WRAPPER_ARGS), proc(102, 103, 101), proc(103, 102, 103)]
    assert killing.job_processes(JID, table) == [101, 102, 103]


def test_job_processes_known_pids_after_wrappers_are_gone():
    """Pids found before (``known``) stay the job's, and so do their descendants, while
    they live; gone or zombie ones are dropped."""
    table = [proc(102, 1, 101), proc(104, 102, 104), proc(105, 1, 105), proc(107, 1, 101),
             proc(108, 1, 101, state='Z'), proc(200, 1, 200)]
    assert killing.job_processes(JID, table) == []
    assert killing.job_processes(JID, table, known=[102, 105, 108, 999]) == [102, 104, 105]


def test_job_processes_known_groups_after_wrappers_are_gone():
    table = [proc(102, 1, 101), proc(104, 102, 104), proc(106, 104, 104), proc(107, 1, 101),
             proc(108, 1, 101, state='Z'), proc(200, 1, 200)]
    assert killing.job_processes(JID, table, groups={101}) == [102, 104, 106, 107]
    assert killing.job_processes(JID, table, known=(200,), groups=[101, 555]) == [
        102, 104, 106, 107, 200]


def test_job_processes_known_and_wrappers_together():
    table = TABLE + [proc(400, 1, 400, ['stray'])]
    assert killing.job_processes(JID, table, known={400}, groups=()) == [
        100, 101, 102, 103, 104, 105, 106, 107, 400]


def test_job_processes_known_excludes_own_pid():
    me = os.getpid()
    table = [proc(me, 1, 1, ['python'])]
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


# --- signal_number / signal_name ----------------------------------------------------------------

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
    with pytest.raises(names.JobError) as exc:
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
    with pytest.raises(names.JobError) as exc:
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
