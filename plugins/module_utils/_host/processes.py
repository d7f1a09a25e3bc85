# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes: the process table (one parser for /proc, one for ``ps``), async_wrapper's
processes and the liveness of a job by them. Its helpers used by one concern only live
with it: a runner of Mitogen for Ansible (_host.mitogen), open files (_host.prune), the
wrappers of a job waited for (_host.wait).

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import errno
import os
import subprocess

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import jid_prefix

WRAPPER_NAME = 'async_wrapper.py'
WRAPPER_MARK = WRAPPER_NAME.encode()


# --------------------------------------------------------------------------
# The process table

def read_small(path):
    """The whole content of a small file, with no buffered file object (cheaper when it
    is done for every process)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_to_end(fd)
    finally:
        os.close(fd)


def read_to_end(fd):
    """Everything that can be read from ``fd`` (a file, or a pipe until its writers close it)."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b''.join(chunks)


def has_proc(proc='/proc'):
    """True when the process table can be read from ``proc`` (Linux), else only from ``ps``."""
    return os.path.isdir(os.path.join(proc, 'self'))


def stat_fields(pid, proc='/proc'):
    """The fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session,
    and so on (the name, in parentheses, may hold spaces). Raises OSError."""
    text = read_small(os.path.join(proc, str(pid), 'stat')).decode('utf-8', 'replace')
    return text[text.rfind(')') + 2:].split()


def process_args(pid, proc='/proc'):
    """The arguments of process ``pid``, from /proc. Raises OSError (gone, or no /proc)."""
    return cmdline_args(read_small(os.path.join(proc, str(pid), 'cmdline')))


def foreign_owner(owner_uid):
    """True when ``owner_uid`` is another user than this process's, and this process is
    not root: /proc mounted with hidepid (proc_hidden) may hide that user's processes."""
    euid = os.geteuid()
    return euid != 0 and owner_uid is not None and owner_uid != euid


def processes(proc='/proc', mark=None, stat=False):
    """The processes of the host, from ``proc`` (Linux) or else from ``ps``.

    Returns (entries, complete): a dict per process with ``pid`` and ``args`` (its
    command line), and with ``stat`` also ``ppid``, ``pgid`` and ``state``; ``complete``
    is False when some command line could not be read for lack of permission. With
    ``mark`` (bytes), only the processes whose command line contains it: the others are
    skipped before their command line is decoded (most processes are not wanted).
    """
    if has_proc(proc):
        return _from_proc(proc, mark, stat)
    return _from_ps(mark, stat)


def cmdline_args(raw):
    """The arguments of a process from its /proc/<pid>/cmdline (NUL-separated bytes)."""
    return [a for a in raw.decode('utf-8', 'replace').split('\0') if a]


def _from_proc(proc, mark, stat):
    entries = []
    complete = True
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            raw = read_small(os.path.join(proc, name, 'cmdline'))
        except (IOError, OSError) as e:
            if e.errno in (errno.EACCES, errno.EPERM):
                complete = False
            continue  # the process exited meanwhile
        if mark is not None and mark not in raw:
            continue
        entry = dict(pid=int(name), args=cmdline_args(raw))
        if stat:
            try:
                fields = stat_fields(name, proc)
            except (IOError, OSError):
                continue
            try:
                entry.update(state=fields[0], ppid=int(fields[1]), pgid=int(fields[2]))
            except (IndexError, ValueError):
                # A stat that cannot be read as one: this process cannot be judged, so the
                # table is not complete (liveness then says unknown, never dead).
                complete = False
                continue
        entries.append(entry)
    return entries, complete


def run_ps(args, stderr=None):
    """The output of ``ps`` with ``args`` (text). procps cuts args at $COLUMNS even into a
    pipe, so COLUMNS is dropped from its environment to keep a jid from being cut off.
    Raises OSError or subprocess.CalledProcessError."""
    env = dict((k, v) for k, v in os.environ.items() if k != 'COLUMNS')
    return subprocess.check_output(['ps'] + args, env=env, stderr=stderr).decode('utf-8', 'replace')


def _from_ps(mark, stat):
    """``ps -A -o pid= [-o ppid= -o pgid= -o state=] -o args=`` (POSIX options). Arguments
    are split on white space, which is enough to spot async_wrapper's path and the jid
    prefix (neither contains spaces in the paths Ansible generates)."""
    columns = ['pid'] + (['ppid', 'pgid', 'state'] if stat else []) + ['args']
    args = ['-A']
    for column in columns:
        args.extend(['-o', column + '='])
    out = run_ps(args)
    fixed = len(columns) - 1
    text_mark = mark.decode('utf-8', 'replace') if mark is not None else None
    entries = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < fixed or not fields[0].isdigit():
            continue
        if text_mark is not None and text_mark not in line:
            continue
        entry = dict(pid=int(fields[0]), args=fields[fixed:])
        if stat:
            entry.update(ppid=int(fields[1]), pgid=int(fields[2]), state=fields[3][:1])
        entries.append(entry)
    return entries, True


def process_table(proc='/proc'):
    """Every process, with ``pid``, ``args``, ``ppid``, ``pgid`` and ``state``."""
    return processes(proc, stat=True)[0]


# --------------------------------------------------------------------------
# async_wrapper's processes

def is_wrapper_cmdline(args, prefix):
    """True when the argument list is async_wrapper's for the jid prefix.

    2.9-2.20: ``python .../async_wrapper.py <prefix> <limit> .../AnsiballZ_x.py ...``;
    2.21: ``python .../async_wrapper.py <prefix> <limit> <true|false> ...``.
    Both carry an argument ending in async_wrapper.py and one equal to the prefix.
    """
    return _wrapper_prefix(args, (prefix,)) is not None


def _wrapper_prefix(args, prefixes):
    """The prefix of ``prefixes`` that async_wrapper's argument list ``args`` is for, or None."""
    if not any(arg.endswith(WRAPPER_NAME) for arg in args):
        return None
    for arg in args:
        if arg in prefixes:
            return arg
    return None


def scan_wrappers(prefixes, proc='/proc'):
    """The async_wrapper processes of the jid prefixes ``prefixes``, in one pass over the
    process table. Returns ({prefix: sorted pids}, complete), with only the prefixes found."""
    prefixes = frozenset(prefixes)
    entries, complete = processes(proc, mark=WRAPPER_MARK)
    found = {}
    for entry in entries:
        prefix = _wrapper_prefix(entry['args'], prefixes)
        if prefix is not None:
            found.setdefault(prefix, []).append(entry['pid'])
    return dict((k, sorted(v)) for k, v in found.items()), complete


# --------------------------------------------------------------------------
# Liveness of a job

def proc_hidden(proc='/proc'):
    """True when /proc is mounted with hidepid, so other users' processes may be hidden."""
    hidden = False
    try:
        with open(os.path.join(proc, 'mounts')) as f:
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[1] == proc:
                    # The last mount of /proc is the one in effect.
                    hidden = 'hidepid=' in fields[3] and not any(
                        o in fields[3] for o in ('hidepid=0', 'hidepid=off'))
    except (IOError, OSError):
        return False
    return hidden


def wrapper_liveness(jid, proc='/proc', owner_uid=None):
    """Whether the async_wrapper of ``jid`` is alive.

    Returns (alive, pids, why): ``alive`` is True, False, or None when it cannot
    be determined (``why`` then says why).
    """
    return liveness_snapshot([jid], proc)(jid, owner_uid=owner_uid)


def liveness_snapshot(jids, proc='/proc'):
    """One scan of the process table for the wrappers of all ``jids``; returns a liveness
    callable (like ``wrapper_liveness``) that answers for those jids from that scan.
    Mitogen's jobs have no wrapper to scan for: their liveness is ``runner_liveness``."""
    prefixes = dict((jid, jid_prefix(jid)) for jid in jids if jid_prefix(jid))
    error = None
    readable = has_proc(proc)
    try:
        found, complete = scan_wrappers(prefixes.values(), proc) if prefixes else ({}, True)
    except (OSError, subprocess.CalledProcessError) as e:
        found, complete, error = {}, False, 'could not list processes: %s' % e
    hidden = []  # read from /proc/mounts once, and only when a wrapper is not found

    def liveness(jid, owner_uid=None):
        if jid not in prefixes:  # not scanned for: ask on its own
            if not jid_prefix(jid):
                return None, [], 'a job of Mitogen for Ansible has no async_wrapper'
            return wrapper_liveness(jid, proc, owner_uid=owner_uid)
        if error:
            return None, [], error
        pids = found.get(prefixes[jid], [])
        if pids:
            return True, pids, None
        known = complete
        if known and readable and not hidden:
            hidden.append(proc_hidden(proc))
        if known and readable and hidden[0] and foreign_owner(owner_uid):
            known = False
        if not known:
            return None, [], ('could not read every process command line (no permission), '
                              'so whether the job\'s async_wrapper is alive is unknown')
        return False, [], None
    return liveness
