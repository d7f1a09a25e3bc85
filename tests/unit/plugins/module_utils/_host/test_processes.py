# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/processes.py: the process table and the liveness
of a job's async_wrapper.

Covers read_small, process_table (processes with stat), is_wrapper_cmdline,
scan_wrappers, proc_hidden, wrapper_liveness and liveness_snapshot. The process table is
read from the real /proc with real processes, from fake proc trees (real directories
under tmp_path with cmdline, stat and mounts files) and, without /proc, from the real
``ps`` and from a fake ``ps`` (a shell script first on PATH); the real processes have a
command line shaped like async_wrapper's.
"""

import os
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    kill as killing, processes as procs)

from unit_helpers import (HAS_PROC, HAS_PS, make_proc, make_stat_proc, needs_proc, needs_ps,
                          proc_mounts_line, unique_prefix, unprivileged, wrapper_argv)


TMP = '/root/.ansible/tmp/ansible-tmp-1700000000.12-345-67890'
WRAPPER = TMP + '/async_wrapper.py'
MODULE = TMP + '/AnsiballZ_command.py'
ARGS = TMP + '/args'
PREFIX = 'j123456789012'
JID = PREFIX + '.4242'
WRAPPER_ARGS = ['/usr/bin/python3', WRAPPER, PREFIX, '30', MODULE, '_']
J1, J2 = 'j111.1', 'j222.2'
UNKNOWN_MSG = ('could not read every process command line (no permission), '
               'so whether the job\'s async_wrapper is alive is unknown')


def scan_proc(prefix, proc='/proc'):
    """(pids, complete) of the wrappers of ``prefix``, from the proc tree ``proc``."""
    found, complete = procs.scan_wrappers([prefix], proc)
    return found.get(prefix, []), complete


def scan_ps(prefix):
    """The same from ps (a proc path without ``self`` makes it use ps)."""
    found, complete = procs.scan_wrappers([prefix], proc='/nonexistent-proc')
    return found.get(prefix, []), complete


def fake_ps(tmp_path, body):
    """A real ``ps`` executable in its own directory; returns a PATH that finds it first."""
    d = tmp_path / 'bin'
    d.mkdir()
    ps = d / 'ps'
    ps.write_text('#!/bin/sh\n' + body)
    ps.chmod(0o755)
    return os.pathsep.join([str(d), os.environ.get('PATH', os.defpath)])


def use_fake_ps(tmp_path, monkeypatch, body):
    """Put a fake ``ps`` running ``body`` first on PATH."""
    monkeypatch.setenv('PATH', fake_ps(tmp_path, body))


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


# --- read_small ----------------------------------------------------------------------------------

@pytest.mark.parametrize('content', [b'', b'a\0b\0', b'\xff' * 65536, b'z' * 200001])
def test_read_small(tmp_path, content):
    path = tmp_path / 'f'
    path.write_bytes(content)
    assert procs.read_small(str(path)) == content


def test_read_small_missing(tmp_path):
    with pytest.raises(OSError):
        procs.read_small(str(tmp_path / 'nope'))


# --- process_table: the real /proc ---------------------------------------------------------------

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


# --- process_table: fake proc trees --------------------------------------------------------------

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


# --- process_table: ps, when there is no /proc ---------------------------------------------------

PS_STAT_OUTPUT = '''\
    1     0     1 Ss   /sbin/init splash
  100     1    99 S    /usr/bin/python3 %s %s 30 %s _
  101   100   101 R+   /usr/bin/python3 %s %s 30 %s _
  102   101   101 Z
  103   101   101 D    sleep 300
PID PPID PGID S COMMAND
  104   1
''' % (WRAPPER, PREFIX, MODULE, WRAPPER, PREFIX, MODULE)


def test_process_table_ps_fake(tmp_path, monkeypatch):
    out = tmp_path / 'ps-args'
    use_fake_ps(tmp_path, monkeypatch, 'echo "$@ COLUMNS=${COLUMNS-unset}" > %s\ncat <<\'EOF\'\n%sEOF\n'
                % (out, PS_STAT_OUTPUT))
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
    use_fake_ps(tmp_path, monkeypatch, 'exit 1\n')
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


# --- is_wrapper_cmdline --------------------------------------------------------------------------

@pytest.mark.parametrize('args', [
    # ansible-core 2.9-2.20: <python> async_wrapper.py <prefix> <limit> <module> <argsfile|_>
    ['/usr/bin/python3', WRAPPER, PREFIX, '30', MODULE, '_'],
    ['/usr/bin/python3', WRAPPER, PREFIX, '30', MODULE, '_', ''],  # the kernel's trailing NUL
    ['/usr/bin/python3', WRAPPER, PREFIX, '3600', MODULE, ARGS],
    ['/usr/bin/python3', WRAPPER, PREFIX, '30', MODULE, '_', '-preserve_tmp'],
    ['/usr/libexec/platform-python', WRAPPER, PREFIX, '30', MODULE, '_', '-preserve_tmp', ''],
    ['/usr/bin/python3.12', '/home/u/.ansible/tmp/ansible-tmp-1.2-3-4/async_wrapper.py', PREFIX,
     '1000', '/home/u/.ansible/tmp/ansible-tmp-1.2-3-4/AnsiballZ_shell.py', '_'],
    # ansible-core 2.21: <python> async_wrapper.py <prefix> <limit> <true|false> <module>
    # <python> <module> [argsfile]
    ['/usr/bin/python3', WRAPPER, PREFIX, '30', 'true', MODULE, '/usr/bin/python3', MODULE],
    ['/usr/bin/python3', WRAPPER, PREFIX, '30', 'false', MODULE, '/usr/bin/python3', MODULE,
     ARGS, ''],
    # the wrapper run by a relative path, or by the interpreter's -c as in these tests
    ['python3', 'async_wrapper.py', PREFIX, '30', 'module.py', '_'],
    [sys.executable, '-c', 'import time; time.sleep(30)', '/tmp/async_wrapper.py', PREFIX, '30'],
])
def test_is_wrapper_cmdline(args):
    assert procs.is_wrapper_cmdline(args, PREFIX) is True


@pytest.mark.parametrize('args', [
    [],
    [''],
    # another job's wrapper
    ['/usr/bin/python3', WRAPPER, 'j999999999999', '30', MODULE, '_'],
    # the prefix only as a substring of an argument
    ['/usr/bin/python3', WRAPPER, PREFIX + '0', '30', MODULE, '_'],
    ['/usr/bin/python3', WRAPPER, PREFIX[:-1], '30', MODULE, '_'],
    ['/usr/bin/python3', WRAPPER, PREFIX + '.4242', '30', MODULE, '_'],
    ['/usr/bin/python3', WRAPPER, 'j1', '30', '/tmp/%s/AnsiballZ_command.py' % PREFIX, '_'],
    ['/usr/bin/python3', WRAPPER, ' ' + PREFIX, '30', MODULE, '_'],
    # no wrapper: the job's module itself, a shell, an editor on another file
    ['/usr/bin/python3', MODULE, PREFIX],
    ['/bin/sh', '-c', 'sleep 60', PREFIX],
    ['vim', TMP + '/async_wrapper.pyc', PREFIX],
    ['vim', WRAPPER + '.bak', PREFIX],
    # wrapper without any prefix
    ['/usr/bin/python3', WRAPPER],
])
def test_is_wrapper_cmdline_negative(args):
    assert procs.is_wrapper_cmdline(args, PREFIX) is False


def test_is_wrapper_cmdline_digit_only_prefix():
    # before the "j" prefix, job ids were digits only
    args = ['/usr/bin/python', WRAPPER, '123456789012', '30', MODULE, '_']
    assert procs.is_wrapper_cmdline(args, '123456789012')
    assert not procs.is_wrapper_cmdline(args, 'j123456789012')


# --- proc_hidden --------------------------------------------------------------------------------

@pytest.mark.parametrize('options, hidden', [
    ('rw,nosuid,nodev,noexec,relatime', False),
    ('rw,relatime,hidepid=2', True),
    ('rw,relatime,hidepid=1', True),
    ('rw,nosuid,nodev,noexec,relatime,hidepid=invisible', True),
    ('rw,hidepid=noaccess', True),
    ('rw,hidepid=ptraceable', True),
    ('rw,relatime,hidepid=2,gid=10', True),
    ('rw,relatime,hidepid=0', False),
    ('rw,relatime,hidepid=off', False),
])
def testproc_hidden(tmp_path, options, hidden):
    proc = str(tmp_path / 'proc')
    mounts = ('sysfs /sys sysfs rw,nosuid 0 0\n' + proc_mounts_line(proc, options)
              + 'tmpfs /run tmpfs rw 0 0\n')
    make_proc(proc, {}, mounts=mounts)
    assert procs.proc_hidden(proc) is hidden


@pytest.mark.parametrize('mounts', [
    '',
    '\n\n',
    'garbage\n',
    'proc /proc\n',
    # hidepid on another mount point than the one scanned
    'proc /somewhere/else proc rw,hidepid=2 0 0\n',
    'tmpfs {proc}x tmpfs rw,hidepid=2 0 0\n',
])
def testproc_hidden_not_found(tmp_path, mounts):
    proc = str(tmp_path / 'proc')
    make_proc(proc, {}, mounts=mounts.format(proc=proc))
    assert procs.proc_hidden(proc) is False


def testproc_hidden_first_hidepid_line_counts(tmp_path):
    proc = str(tmp_path / 'proc')
    mounts = (proc_mounts_line(proc, 'rw,relatime') + proc_mounts_line(proc, 'rw,hidepid=2'))
    make_proc(proc, {}, mounts=mounts)
    assert procs.proc_hidden(proc) is True


def testproc_hidden_no_mounts_file(tmp_path):
    proc = make_proc(tmp_path / 'proc', {})
    assert procs.proc_hidden(proc) is False
    assert procs.proc_hidden(str(tmp_path / 'nope')) is False


@needs_proc
def testproc_hidden_real_proc():
    assert procs.proc_hidden() in (True, False)
    assert procs.proc_hidden('/proc') is procs.proc_hidden()


# --- scan_wrappers on a fake proc tree -----------------------------------------------------------

def wrapper(prefix, form='2.9'):
    if form == '2.21':
        return ['/usr/bin/python3', WRAPPER, prefix, '30', 'true', MODULE, '/usr/bin/python3',
                MODULE]
    return ['/usr/bin/python3', WRAPPER, prefix, '30', MODULE, '_']


def wrapper_tree(root, **extra):
    processes = {
        1: ['/sbin/init'],
        2: b'',                                # kernel thread: empty cmdline
        99: wrapper(PREFIX),                   # the wrapper ...
        1000: wrapper(PREFIX),                 # ... and its forked watcher (same argv)
        1001: ['/usr/bin/python3', MODULE],    # the job's module itself
        1002: wrapper('j999999999999'),        # another job
        1003: wrapper(PREFIX + '0'),           # prefix as a substring
        1004: wrapper('j42', '2.21'),          # a 2.21 wrapper
        1005: None,                            # exited between listdir and open
        1006: b'/usr/bin/python3\0' + WRAPPER.encode() + b'\0\xff\xfe\0j7\0',  # bad utf-8
        'sys': None, 'thread-self': None, 'net': None,  # non-pid entries
    }
    processes.update(extra)
    return make_proc(root, processes, mounts='proc /proc proc rw 0 0\n')


@pytest.mark.parametrize('prefix, pids', [
    (PREFIX, [99, 1000]),  # numeric order, not name order
    ('j42', [1004]),
    ('j7', [1006]),
    ('j999999999999', [1002]),
    (PREFIX + '0', [1003]),
    ('j1', []),
    (PREFIX[:-1], []),
])
def test_scan_proc_fake(tmp_path, prefix, pids):
    proc = wrapper_tree(tmp_path / 'proc')
    assert scan_proc(prefix, proc) == (pids, True)


def test_scan_proc_long_cmdline(tmp_path):
    # A wrapper whose command line is longer than one read (the prefix at its end).
    argv = ['/usr/bin/python3', WRAPPER, '30', MODULE] + ['x' * 1000] * 100 + [PREFIX]
    proc = make_proc(tmp_path / 'proc', {7: argv, 8: ['y' * 200000]})
    assert scan_proc(PREFIX, proc) == ([7], True)


def test_scan_proc_empty(tmp_path):
    proc = make_proc(tmp_path / 'proc', {})
    assert scan_proc(PREFIX, proc) == ([], True)


def test_scan_without_proc_uses_ps(tmp_path):
    # no proc tree there: the process table comes from ps, which has no such wrapper
    assert scan_proc(PREFIX, str(tmp_path / 'nope')) == ([], True)


def test_scan_proc_unreadable_cmdline(world_readable_tmp):
    proc = os.path.join(world_readable_tmp, 'proc')
    wrapper_tree(proc, **{'2000': wrapper('j55')})
    for root, dirs, filenames in os.walk(proc):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in filenames:
            os.chmod(os.path.join(root, f), 0o644)
    os.chmod(proc, 0o755)
    os.chmod(os.path.join(proc, '2000', 'cmdline'), 0)  # another user's process
    with unprivileged():
        by_prefix = scan_proc(PREFIX, proc)
        hidden = scan_proc('j55', proc)
        alive = procs.wrapper_liveness(PREFIX + '.1', proc=proc)
        unknown = procs.wrapper_liveness('j55.1', proc=proc)
    # a match is still reported; completeness says some process could not be read
    assert by_prefix == ([99, 1000], False)
    assert hidden == ([], False)
    assert alive == (True, [99, 1000], None)
    assert unknown == (None, [], UNKNOWN_MSG)


def test_wrapper_liveness_unlistable_proc(world_readable_tmp):
    proc = make_proc(os.path.join(world_readable_tmp, 'proc'), {99: wrapper(PREFIX)})
    os.chmod(os.path.join(proc, 'self'), 0o755)
    os.chmod(proc, stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)  # traversable, not listable
    try:
        with unprivileged():
            alive, pids, why = procs.wrapper_liveness(PREFIX + '.1', proc=proc)
    finally:
        os.chmod(proc, 0o755)
    assert (alive, pids) == (None, [])
    assert why.startswith('could not list processes: [Errno 13] Permission denied')


# --- wrapper_liveness on a fake proc tree --------------------------------------------------------

@pytest.mark.parametrize('jid, expected', [
    (PREFIX + '.4242', (True, [99, 1000], None)),
    (PREFIX + '.1', (True, [99, 1000], None)),  # any pid after the prefix
    ('j42.7', (True, [1004], None)),
    ('j1.2', (False, [], None)),
    (PREFIX[:-1] + '.4242', (False, [], None)),
])
def test_wrapper_liveness_fake(tmp_path, jid, expected):
    proc = wrapper_tree(tmp_path / 'proc')
    assert procs.wrapper_liveness(jid, proc=proc) == expected
    assert procs.wrapper_liveness(jid, proc=proc, owner_uid=os.getuid()) == expected


@pytest.mark.parametrize('hidepid, euid, owner_uid, expected', [
    # hidepid, not root, job owned by someone else: their wrapper may be invisible
    ('hidepid=2', 1000, 1001, (None, [], UNKNOWN_MSG)),
    ('hidepid=invisible', 1000, 0, (None, [], UNKNOWN_MSG)),
    # our own job: our own processes are visible
    ('hidepid=2', 1000, 1000, (False, [], None)),
    # owner unknown (job file gone meanwhile): no reason to doubt
    ('hidepid=2', 1000, None, (False, [], None)),
    # root sees everything
    ('hidepid=2', 0, 1000, (False, [], None)),
    # no hidepid: nothing is hidden
    ('hidepid=0', 1000, 1001, (False, [], None)),
    ('hidepid=off', 1000, 1001, (False, [], None)),
    (None, 1000, 1001, (False, [], None)),
])
def test_wrapper_liveness_hidepid(tmp_path, monkeypatch, hidepid, euid, owner_uid, expected):
    proc = str(tmp_path / 'proc')
    options = 'rw,nosuid' + (',' + hidepid if hidepid else '')
    make_proc(proc, {1: ['/sbin/init']}, mounts=proc_mounts_line(proc, options))
    # the effective uid is the process's identity, not the filesystem: set it for the test
    monkeypatch.setattr(procs.os, 'geteuid', lambda: euid)
    assert procs.wrapper_liveness(PREFIX + '.1', proc=proc, owner_uid=owner_uid) == expected


def test_wrapper_liveness_hidepid_found_is_alive(tmp_path, monkeypatch):
    proc = str(tmp_path / 'proc')
    make_proc(proc, {7: wrapper(PREFIX)}, mounts=proc_mounts_line(proc, 'rw,hidepid=2'))
    monkeypatch.setattr(procs.os, 'geteuid', lambda: 1000)
    assert procs.wrapper_liveness(PREFIX + '.1', proc=proc, owner_uid=1001) == (True, [7], None)


# --- scan_wrappers and wrapper_liveness without /proc: a fake ps ---------------------------------

PS_OUTPUT = '''\
    1 /sbin/init splash
    2 [kthreadd]
   99 /usr/bin/python3 {w} {p} 30 {m} _
 1000 /usr/bin/python3 {w} {p} 30 {m} _ -preserve_tmp
 1001 /usr/bin/python3 {m}
 1002 /usr/bin/python3 {w} j999999999999 30 {m} _
 1004 /usr/bin/python3 {w} j42 30 true {m} /usr/bin/python3 {m}
 1005
garbage line {w} {p}
'''.format(w=WRAPPER, p=PREFIX, m=MODULE)


@pytest.fixture
def ps_path(tmp_path, monkeypatch):
    d = fake_ps(tmp_path, "cat <<'EOF'\n%sEOF\n" % PS_OUTPUT)
    monkeypatch.setenv('PATH', d)
    return d


@pytest.mark.parametrize('prefix, pids', [
    (PREFIX, [99, 1000]),
    ('j42', [1004]),
    ('j999999999999', [1002]),
    ('j1', []),
])
def test_scan_ps_fake(ps_path, prefix, pids):
    assert scan_ps(prefix) == (pids, True)


def test_scan_ps_arguments(tmp_path, monkeypatch):
    # POSIX options only, so that it works with busybox and BSD ps
    out = tmp_path / 'argv'
    monkeypatch.setenv('PATH', fake_ps(tmp_path, 'echo "$@" > %s\n' % out))
    assert scan_ps(PREFIX) == ([], True)
    assert out.read_text() == '-A -o pid= -o args=\n'


@pytest.mark.parametrize('jid, expected', [
    (PREFIX + '.1', (True, [99, 1000], None)),
    ('j1.2', (False, [], None)),
])
def test_wrapper_liveness_without_proc_uses_ps(tmp_path, ps_path, jid, expected):
    # no <proc>/self: not a usable proc, so ps is asked
    assert procs.wrapper_liveness(jid, proc=str(tmp_path / 'noproc')) == expected
    proc = tmp_path / 'notproc'
    proc.mkdir()
    assert procs.wrapper_liveness(jid, proc=str(proc)) == expected


def test_wrapper_liveness_ps_fails(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', fake_ps(tmp_path, 'echo boom >&2; exit 1\n'))
    with pytest.raises(subprocess.CalledProcessError):
        scan_ps(PREFIX)
    alive, pids, why = procs.wrapper_liveness(PREFIX + '.1', proc=str(tmp_path / 'noproc'))
    assert (alive, pids) == (None, [])
    assert why.startswith('could not list processes: Command ')
    assert 'returned non-zero exit status 1' in why


def test_wrapper_liveness_no_ps(tmp_path, monkeypatch):
    empty = tmp_path / 'empty'
    empty.mkdir()
    monkeypatch.setenv('PATH', str(empty))
    alive, pids, why = procs.wrapper_liveness(PREFIX + '.1', proc=str(tmp_path / 'noproc'))
    assert (alive, pids) == (None, [])
    assert why.startswith('could not list processes: [Errno 2] No such file or directory')


# --- real processes: /proc and ps ----------------------------------------------------------------

@needs_proc
def test_scan_proc_real(fake_wrapper):
    pids, complete = scan_proc(fake_wrapper.prefix)
    assert pids == [fake_wrapper.pid]
    if os.geteuid() == 0:
        assert complete is True


@needs_proc
def test_wrapper_liveness_real_process(fake_wrapper):
    jid = fake_wrapper.prefix + '.1'
    assert procs.wrapper_liveness(jid) == (True, [fake_wrapper.pid], None)
    assert procs.wrapper_liveness(jid, owner_uid=os.getuid()) == (True, [fake_wrapper.pid], None)
    # the prefix must match a whole argument
    assert procs.wrapper_liveness(fake_wrapper.prefix + '0.1')[:2] in ((False, []), (None, []))
    assert procs.wrapper_liveness(fake_wrapper.prefix[:-1] + '.1')[:2] in ((False, []), (None, []))
    fake_wrapper.kill()
    assert procs.wrapper_liveness(jid, owner_uid=os.getuid()) == (False, [], None)


@needs_proc
def test_wrapper_liveness_real_never_started():
    assert procs.wrapper_liveness(unique_prefix() + '.1', owner_uid=os.getuid()) == (
        False, [], None)


def procps():
    if not HAS_PS:
        return False
    try:
        return b'procps' in subprocess.check_output(['ps', '--version'], stderr=subprocess.STDOUT)
    except (OSError, subprocess.CalledProcessError):
        return False


@pytest.fixture
def wide_columns(monkeypatch):
    """procps' ps cuts ``args`` at $COLUMNS even into a pipe, and pytest's process has
    COLUMNS=80 in its C environment (readline sets it, os.environ does not show it):
    give ps room for the long wrapper command line."""
    monkeypatch.setenv('COLUMNS', '4096')


@needs_ps
def test_scan_ps_real(fake_wrapper, wide_columns):
    assert scan_ps(fake_wrapper.prefix) == ([fake_wrapper.pid], True)
    fake_wrapper.kill()
    assert scan_ps(fake_wrapper.prefix) == ([], True)


@needs_ps
def test_wrapper_liveness_real_ps_fallback(tmp_path, fake_wrapper, wide_columns):
    noproc = str(tmp_path / 'noproc')
    jid = fake_wrapper.prefix + '.1'
    assert procs.wrapper_liveness(jid, proc=noproc) == (True, [fake_wrapper.pid], None)
    fake_wrapper.kill()
    assert procs.wrapper_liveness(jid, proc=noproc) == (False, [], None)


@pytest.mark.skipif(not procps(), reason='needs the procps ps, which honours $COLUMNS in a pipe')
def test_scan_ps_real_narrow_columns(fake_wrapper, monkeypatch):
    monkeypatch.setenv('COLUMNS', '80')
    assert scan_ps(fake_wrapper.prefix) == ([fake_wrapper.pid], True)


# --- liveness_snapshot: one scan for several jobs ------------------------------------------------

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
