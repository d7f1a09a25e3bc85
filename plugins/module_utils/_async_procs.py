# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes: the process table (one parser for /proc, one for ``ps``), async_wrapper's
processes and the liveness of a job.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import errno
import os
import subprocess
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._async_names import jid_prefix

WRAPPER_NAME = 'async_wrapper.py'
WRAPPER_MARK = WRAPPER_NAME.encode()


# --------------------------------------------------------------------------
# The process table

def read_small(path):
    """The whole content of a small file, with no buffered file object (cheaper when it
    is done for every process)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b''.join(chunks)
    finally:
        os.close(fd)


def processes(proc='/proc', mark=None, stat=False):
    """The processes of the host, from ``proc`` (Linux) or else from ``ps``.

    Returns (entries, complete): a dict per process with ``pid`` and ``args`` (its
    command line), and with ``stat`` also ``ppid``, ``pgid`` and ``state``; ``complete``
    is False when some command line could not be read for lack of permission. With
    ``mark`` (bytes), only the processes whose command line contains it: the others are
    skipped before their command line is decoded (most processes are not wanted).
    """
    if os.path.isdir(os.path.join(proc, 'self')):
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
                text = read_small(os.path.join(proc, name, 'stat')).decode('utf-8', 'replace')
            except (IOError, OSError):
                continue
            fields = text[text.rfind(')') + 2:].split()
            entry.update(state=fields[0], ppid=int(fields[1]), pgid=int(fields[2]))
        entries.append(entry)
    return entries, complete


def ps_env():
    """Environment for ``ps``: procps cuts args at $COLUMNS even into a pipe, so it is
    dropped to keep the jid from being cut off."""
    return dict((k, v) for k, v in os.environ.items() if k != 'COLUMNS')


def _from_ps(mark, stat):
    """``ps -A -o pid= [-o ppid= -o pgid= -o state=] -o args=`` (POSIX options). Arguments
    are split on white space, which is enough to spot async_wrapper's path and the jid
    prefix (neither contains spaces in the paths Ansible generates)."""
    columns = ['pid'] + (['ppid', 'pgid', 'state'] if stat else []) + ['args']
    cmd = ['ps', '-A']
    for column in columns:
        cmd.extend(['-o', column + '='])
    out = subprocess.check_output(cmd, env=ps_env()).decode('utf-8', 'replace')
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


def open_files(paths, proc='/proc'):
    """The ones among ``paths`` (files) that some process has open, by one look at the
    open files of every process whose ``fd`` dir can be read (the user's own; all for
    root). None when that cannot be known (no /proc): then any of them may be open.

    Matched by device and inode, so that a path reached through a symlinked dir is seen;
    only the descriptors whose link names a file of the same base name are looked at."""
    if not os.path.isdir(os.path.join(proc, 'self')):
        return None
    wanted = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        wanted.setdefault(os.path.basename(path), {})[(st.st_dev, st.st_ino)] = path
    found = set()
    if not wanted:
        return found
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = os.path.join(proc, pid, 'fd')
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            fd_path = os.path.join(fd_dir, fd)
            try:
                base = os.path.basename(os.readlink(fd_path))
                if base not in wanted:
                    continue
                st = os.stat(fd_path)
            except OSError:
                continue
            path = wanted[base].get((st.st_dev, st.st_ino))
            if path is not None:
                found.add(path)
    return found


# --------------------------------------------------------------------------
# Liveness of a job

def _proc_hidden(proc='/proc'):
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


def still_wrappers(jid, pids, proc='/proc'):
    """Those of ``pids`` (found by a scan) that are still async_wrapper processes of job
    ``jid``: a look at their own command lines only, not at every process's."""
    prefix = jid_prefix(jid)
    alive = []
    for pid in pids or ():
        try:
            raw = read_small(os.path.join(proc, str(pid), 'cmdline'))
        except (IOError, OSError):
            continue  # gone, or no /proc
        if _wrapper_prefix(cmdline_args(raw), (prefix,)) is not None:
            alive.append(pid)
    return alive


def watching(liveness_for, proc='/proc'):
    """``liveness_for`` (jids -> a liveness callable, as ``liveness_snapshot``) for jobs
    whose liveness is checked again and again while they are waited for: the wrapper pids
    that a check found are looked at again on their own (``still_wrappers``), and the
    process table is scanned again only for the jobs none of whose pids is left."""
    known = {}

    def liveness_of(jids):
        still = dict((jid, still_wrappers(jid, known.get(jid), proc)) for jid in jids)
        rest = [jid for jid in jids if not still[jid]]
        scanned = [liveness_for(rest)] if rest else []

        def liveness(jid, owner_uid=None):
            if still.get(jid):
                return True, still[jid], None
            alive, pids, why = (scanned[0] if scanned else liveness_for([jid]))(
                jid, owner_uid=owner_uid)
            known[jid] = pids if alive else []
            return alive, pids, why
        return liveness
    return liveness_of


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
    has_proc = os.path.isdir(os.path.join(proc, 'self'))
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
        if known and has_proc and not hidden:
            hidden.append(_proc_hidden(proc))
        if known and has_proc and hidden[0]:
            euid = os.geteuid()
            if euid != 0 and owner_uid is not None and owner_uid != euid:
                known = False
        if not known:
            return None, [], ('could not read every process command line (no permission), '
                              'so whether the job\'s async_wrapper is alive is unknown')
        return False, [], None
    return liveness


# --------------------------------------------------------------------------
# Liveness of a job of Mitogen for Ansible's runner

# How much later than the job file's write the runner may seem to have started: the start
# time read from /proc is exact to a few clock ticks, from ps to the second.
START_SLACK = 1.0


def process_start(pid, proc='/proc', clock=time.time):
    """When process ``pid`` started (epoch seconds), or None when there is no such process
    (or only its zombie, which nobody has reaped yet).

    From /proc: its start in clock ticks since boot (``stat``) against the uptime, both
    exact to 10 ms; else from ``ps -o stat=,etime=`` (to the second)."""
    if os.path.isdir(os.path.join(proc, 'self')):
        try:
            text = read_small(os.path.join(proc, str(pid), 'stat')).decode('utf-8', 'replace')
            uptime = float(read_small(os.path.join(proc, 'uptime')).split()[0])
            fields = text[text.rfind(')') + 2:].split()
            ticks = float(fields[19])  # field 22 of stat, the 20th after the name and state
        except (IOError, OSError, ValueError, IndexError):
            return None
        if fields[0] in ('Z', 'X'):
            return None
        return clock() - (uptime - ticks / os.sysconf('SC_CLK_TCK'))
    try:
        out = subprocess.check_output(['ps', '-o', 'stat=', '-o', 'etime=', '-p', str(pid)],
                                      env=ps_env(), stderr=subprocess.STDOUT)
    except (OSError, subprocess.CalledProcessError):
        return None
    fields = out.decode('ascii', 'replace').split()
    if len(fields) != 2 or fields[0].startswith('Z'):
        return None
    elapsed = _etime_seconds(fields[1])
    return None if elapsed is None else clock() - elapsed


def _etime_seconds(text):
    """Seconds of ps's elapsed time ``[[dd-]hh:]mm:ss``; None when it is not one."""
    days, _sep, rest = text.rpartition('-')
    parts = rest.split(':')
    try:
        seconds = 0
        for part in parts:
            seconds = seconds * 60 + int(part)
        return seconds + (int(days) * 86400 if days else 0) if 2 <= len(parts) <= 3 else None
    except ValueError:
        return None


def runner_liveness(pid, written, owner_uid=None, proc='/proc', clock=time.time):
    """Whether the runner process of a job of Mitogen for Ansible is alive: ``pid`` is the
    one its running job file records, ``written`` when that file was written (its mtime).

    The runner writes the file right after it starts and not again until the end, so
    the process with that pid is the runner only if it started before the file was
    written; one that started later got a recycled pid. Returns (alive, pids, why), as
    ``wrapper_liveness``."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return None, [], ('its job file records no runner pid (%r), so whether its runner is '
                          'alive is unknown' % (pid,))
    started = process_start(pid, proc, clock=clock)
    if started is None:
        if os.path.isdir(os.path.join(proc, 'self')) and _proc_hidden(proc):
            euid = os.geteuid()
            if euid != 0 and owner_uid is not None and owner_uid != euid:
                return None, [], ('/proc hides other users\' processes, so whether the '
                                  'job\'s runner (pid %d) is alive is unknown' % pid)
        return False, [], None
    if started > written + START_SLACK:
        return False, [], None  # another process, with the runner's recycled pid
    return True, [pid], None
