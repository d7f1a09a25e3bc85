# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the unit tests (``from unit_helpers import ...``).

tests/unit/conftest.py holds the fixtures; pytest's default (prepend) import mode puts
tests/unit, the directory of that conftest.py, on sys.path when it loads it, before any
test module, so every unit test can import this module.

Everything works on real files in real temporary directories and, for liveness, on
real processes; nothing of the filesystem is mocked. The liveness callables below are
plain functions passed to the code under test through its ``liveness=`` parameter
(dependency injection).
"""

import contextlib
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time

import pytest

import ansible.modules.async_wrapper as native_wrapper
import ansible.release as ansible_release

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    claims, job_status as files, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import names


# --- what this machine has ------------------------------------------------------------------

HAS_PROC = os.path.isdir('/proc/self')
needs_proc = pytest.mark.skipif(not HAS_PROC, reason='no /proc on this machine')
HAS_PS = shutil.which('ps') is not None
needs_ps = pytest.mark.skipif(not HAS_PS, reason='no ps command on this machine (procps is '
                              'not installed); the ps fallback is covered with a fake ps too')


# --- liveness callables (injected through the ``liveness=`` parameter) ----------------------

def alive(jid, owner_uid=None):
    return True, [1], None


def dead(jid, owner_uid=None):
    return False, [], None


UNKNOWN_WHY = 'why: liveness cannot be determined here'


def unknown(jid, owner_uid=None):
    return None, [], UNKNOWN_WHY


def never(jid, owner_uid=None):
    raise AssertionError('liveness must not be called (jid %r)' % (jid,))


class Recorder:
    """A liveness callable that records its calls and returns a fixed answer."""

    def __init__(self, answer=(True, [1], None)):
        self.answer = answer
        self.calls = []

    def __call__(self, jid, owner_uid=None):
        self.calls.append((jid, owner_uid))
        return self.answer


LIVENESS = {'alive': alive, 'dead': dead, 'unknown': unknown}


# --- job files and links -----------------------------------------------------------------------

RUNNING_INT = {'started': 1, 'finished': 0, 'ansible_job_id': 'j1.1'}
RUNNING_BOOL = {'started': True, 'finished': False, 'ansible_job_id': 'j1.1'}


def write_job(async_dir, jid, content):
    """Write a job file: ``content`` is a dict (written as JSON) or raw text."""
    path = os.path.join(str(async_dir), jid)
    with open(path, 'w') as f:
        f.write(content if isinstance(content, str) else json.dumps(content))
    return path


def snapshot(directory):
    """Every entry of ``directory`` (recursively): links with their target, files with
    their content, so that a test can assert that nothing at all changed."""
    found = {}
    for root, dirs, filenames in os.walk(str(directory)):
        for name in dirs + filenames:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, str(directory))
            if os.path.islink(path):
                found[rel] = ('link', os.readlink(path))
            elif os.path.isdir(path):
                found[rel] = ('dir', None)
            else:
                with open(path, 'rb') as f:
                    found[rel] = ('file', f.read())
    return found


def temp_leftovers(directory):
    """Names of temp files left by the atomic writers (``.<base>.<hex>.tmp``)."""
    return sorted(n for n in os.listdir(str(directory)) if n.startswith('.') and n.endswith('.tmp'))


def make_link(async_dir, name, target):
    """A symlink ``name`` in the async dir pointing to ``target`` (as given)."""
    path = os.path.join(async_dir, name)
    os.symlink(target, path)
    return path


def name_of(async_dir, alias):
    """What the name ``alias`` (``jid_<alias>``) points to, as written; None without one."""
    try:
        return os.readlink(names.alias_path(async_dir, alias))
    except OSError:
        return None


# --- claims ---------------------------------------------------------------------------------

def write_claim(async_dir, alias, token, when=1000.0, **extra):
    """Claim ``alias`` as another run would (``time`` is ``when``); returns the claim."""
    data = dict(token=token, time=when, pid=12345)
    data.update(extra)
    changes.atomic_write_json(claims.claim_path(async_dir, alias), data)
    return data


def claim_of(async_dir, alias):
    """The claim file of ``alias`` as JSON, whatever it holds; None without one."""
    path = claims.claim_path(async_dir, alias)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# --- real processes that look like async_wrapper -------------------------------------------

def unique_prefix():
    """A jid prefix no real job and no concurrent test run will use."""
    return 'j%d' % (10 ** 12 + secrets.randbelow(9 * 10 ** 12))


def wrapper_argv(prefix, tmpdir='/tmp/ansible-tmp-1700000000.12-345-67890'):
    """A real interpreter's argv shaped like async_wrapper's (2.9-2.20 form).

    With ``-c`` the extra arguments only land in ``sys.argv`` of the sleeping child,
    but ``/proc/<pid>/cmdline`` and ``ps`` show them all.
    """
    return [sys.executable, '-c', 'import time; time.sleep(60)',
            tmpdir + '/async_wrapper.py', prefix, '30', tmpdir + '/AnsiballZ_command.py', '_']


class FakeWrapper:
    """A real running process whose command line is async_wrapper's for a fresh jid
    (``env``: extra environment variables, as a claim token)."""

    def __init__(self, env=None):
        self.prefix = unique_prefix()
        self.jid = self.prefix + '.4242'
        self.proc = subprocess.Popen(wrapper_argv(self.prefix),
                                     env=dict(os.environ, **env) if env else None)
        self.pid = self.proc.pid
        self._wait_for_exec()

    def _wait_for_exec(self):
        """Popen may return (vfork) before the kernel has set the new command line up:
        wait until it shows, so that no test races the exec."""
        cmdline = '/proc/%d/cmdline' % self.pid
        deadline = time.time() + 10
        while time.time() < deadline:
            if not os.path.isdir('/proc/self'):
                time.sleep(0.2)  # no /proc: give ps something settled to see
                return
            try:
                with open(cmdline, 'rb') as f:
                    if self.prefix.encode() in f.read().split(b'\0'):
                        return
            except (IOError, OSError):
                pass
            time.sleep(0.01)
        raise AssertionError('the fake wrapper %d never showed its command line' % self.pid)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()  # reaped: no zombie left in /proc


# --- real processes that look like Mitogen for Ansible's async runner ------------------------

def mitogen_jid():
    """A fresh job id of Mitogen's form: 16 hex digits."""
    return '%016x' % secrets.randbits(64)


class FakeMitogenRunner:
    """A real process in the place of Mitogen's async runner: a session (and process
    group) leader, as Mitogen's forked runner is, with a child; ``ignore_term`` makes
    both ignore SIGTERM. ``write_job(async_dir)`` writes its running job file (with its
    pid, after it started), as the runner does; ``env`` adds environment variables to its
    command (a claim token)."""

    def __init__(self, ignore_term=False, env=None):
        self.jid = mitogen_jid()
        trap = 'trap "" TERM; ' if ignore_term else ''
        script = '%ssleep 60 & %sexec sleep 61' % (trap, trap)
        self.proc = subprocess.Popen(['sh', '-c', script], start_new_session=True,
                                     env=dict(os.environ, **env) if env else None)
        self.pid = self.proc.pid
        deadline = time.time() + 10
        while time.time() < deadline:  # until its child runs: the group is complete
            if len(self.group()) >= 2:
                break
            time.sleep(0.01)

    def group(self):
        """The live pids of its process group."""
        found = []
        for name in os.listdir('/proc'):
            if name.isdigit():
                try:
                    with open('/proc/%s/stat' % name) as f:
                        text = f.read()
                except (IOError, OSError):
                    continue
                fields = text[text.rfind(')') + 2:].split()
                if int(fields[2]) == self.pid and fields[0] != 'Z':
                    found.append(int(name))
        return sorted(found)

    def write_job(self, async_dir, when=None):
        """Its running job file, written now (or with mtime ``when``)."""
        time.sleep(0.02)  # a file written after the process started, as the runner's is
        path = write_job(async_dir, self.jid, {'started': 1, 'finished': 0, 'pid': self.pid,
                                               'ansible_job_id': self.jid, 'data': ''})
        if when is not None:
            os.utime(path, (when, when))
        return path

    def kill(self):
        for pid in self.group():
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


# --- dropping root's permission bypass -------------------------------------------------------

@contextlib.contextmanager
def unprivileged():
    """Run the body without root's permission bypass: as root, with the effective uid of
    nobody (65534) and back; as another user, unchanged. Files must then be reachable by
    that uid (see the ``world_readable_tmp`` fixture)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


# --- fake /proc trees ---------------------------------------------------------------------

def make_proc(root, processes, mounts=None, self_dir=True):
    """Build a fake proc tree: ``processes`` maps a pid (or any dir name) to its
    argv list (written NUL-separated, with the trailing NUL the kernel writes), to raw
    bytes, or to None (a pid dir without cmdline: a process that just exited)."""
    root = str(root)
    os.mkdir(root)
    for pid, argv in processes.items():
        d = os.path.join(root, str(pid))
        os.mkdir(d)
        if argv is None:
            continue
        raw = argv if isinstance(argv, bytes) else ''.join(a + '\0' for a in argv).encode()
        with open(os.path.join(d, 'cmdline'), 'wb') as f:
            f.write(raw)
    if self_dir:
        os.mkdir(os.path.join(root, 'self'))
    if mounts is not None:
        with open(os.path.join(root, 'mounts'), 'w') as f:
            f.write(mounts)
    return root


def make_stat_proc(root, processes, self_dir=True):
    """Build a fake proc tree with what ``process_table`` reads: ``processes`` maps a pid
    to a dict with ``args`` (argv list, or None for no cmdline file), ``ppid``, ``pgid``,
    optional ``state`` (default 'S'), ``comm`` (the name in parentheses in ``stat``;
    default the base name of args[0]), ``environ`` (a dict written as /proc's NUL-separated
    ``environ``) and ``stat`` (False: no stat file, a process that just exited)."""
    root = str(root)
    os.mkdir(root)
    for pid, p in processes.items():
        d = os.path.join(root, str(pid))
        os.mkdir(d)
        args = p.get('args')
        if args is not None:
            with open(os.path.join(d, 'cmdline'), 'wb') as f:
                f.write(''.join(a + '\0' for a in args).encode())
        if p.get('stat', True):
            comm = p.get('comm', os.path.basename(args[0])[:15] if args else 'kworker/0:1')
            with open(os.path.join(d, 'stat'), 'w') as f:
                f.write('%s (%s) %s %d %d %d 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0 '
                        '12345 1000000 100 18446744073709551615\n'
                        % (pid, comm, p.get('state', 'S'), p['ppid'], p['pgid'], p['pgid']))
        if p.get('environ') is not None:
            with open(os.path.join(d, 'environ'), 'wb') as f:
                f.write(''.join('%s=%s\0' % kv for kv in sorted(p['environ'].items())).encode())
    if self_dir:
        os.mkdir(os.path.join(root, 'self'))
    return root


def proc_mounts_line(proc, options):
    return 'proc %s proc %s 0 0\n' % (proc, options)


# --- time ------------------------------------------------------------------------------------

class FakeClock:
    """A clock and a sleep to inject (``clock=c.clock, sleep=c.sleep``): sleeping only
    moves the clock on, and records the duration; ``on_sleep(n)`` runs after the n-th."""

    def __init__(self, now=1000.0, on_sleep=None):
        self.now = now
        self.sleeps = []
        self.on_sleep = on_sleep

    def clock(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0, seconds
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


def wait_until(cond, timeout=20, what='the condition'):
    """The first true value of ``cond()``, polled every 0.05 s for up to ``timeout`` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError('timed out waiting for %s' % what)


# --- a real async_wrapper command line ------------------------------------------------------

WRAPPER_SOURCE = os.path.abspath(native_wrapper.__file__).replace('.pyc', '.py')
# The command line of the async_wrapper of the ansible-core that runs the tests changed in 2.21.
WRAPPER_ARGS_221 = tuple(int(p) for p in ansible_release.__version__.split('.')[:2]) >= (2, 21)


class JobDir:
    """A remote tmp dir as Ansible makes it for an async job: ansible-core's real
    async_wrapper.py (the one installed with the ansible-core that runs the tests) and the
    job's module (a Python script that sleeps ``seconds``, then prints its JSON result);
    ``cmd`` is the wrapper command line Ansible would run."""

    def __init__(self, base, async_dir, seconds=0.0, rc=0, prefix=None, limit=30):
        self.tmpdir = os.path.join(str(base), 'ansible-tmp-1700000000.1-%d-42' % os.getpid())
        os.mkdir(self.tmpdir, 0o700)
        self.wrapper = os.path.join(self.tmpdir, 'async_wrapper.py')
        with open(WRAPPER_SOURCE, 'rb') as src, open(self.wrapper, 'wb') as dst:
            dst.write(src.read())
        self.module = os.path.join(self.tmpdir, 'AnsiballZ_job.py')
        with open(self.module, 'w') as f:
            f.write('#!%s\nimport json, time\ntime.sleep(%r)\n'
                    'print(json.dumps(dict(rc=%d, stdout="done", failed=%r, changed=True)))\n'
                    % (sys.executable, seconds, rc, rc != 0))
        self.prefix = prefix or 'j%d' % (10 ** 11 + secrets.randbelow(9 * 10 ** 11))
        self.async_dir = async_dir
        if WRAPPER_ARGS_221:
            # 2.21+: <jid> <limit> <preserve_tmp> <module path> <the module's command line>
            self.cmd = 'ANSIBLE_ASYNC_DIR=%s %s %s %s %d false %s %s %s' % (
                shlex.quote(async_dir), sys.executable, self.wrapper, self.prefix, limit,
                self.module, sys.executable, self.module)
        else:
            # 2.9-2.20: <jid> <limit> <module path> <args file or _>
            self.cmd = 'ANSIBLE_ASYNC_DIR=%s %s %s %s %d %s _' % (
                shlex.quote(async_dir), sys.executable, self.wrapper, self.prefix, limit,
                self.module)


def job_finished(async_dir, jid):
    """The content of job ``jid``'s file once it says finished, else a false value."""
    job = files.read_job(names.job_path(async_dir, jid))
    return job.finished and job.data


# --- the params of a module ------------------------------------------------------------------

def module_params(spec, **given):
    """The params a module's run() gets from AnsibleModule for ``spec`` (an ArgumentSpec):
    every option with its default, the private ``_async_dir`` (None), then ``given``."""
    params = dict((name, option.get('default')) for name, option in spec.argument_spec.items())
    params['_async_dir'] = None
    params['_failpoints'] = None
    params.update(given)
    return params
