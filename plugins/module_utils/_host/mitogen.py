# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The liveness of a job of Mitogen for Ansible's runner: by the pid its running job file
records and that process's start time. Imported only for such a job (job_liveness), so
that a status of async_wrapper's jobs does not load it.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import os
import subprocess
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
    foreign_owner, has_proc, proc_hidden, read_small, run_ps, stat_fields)

# How much later than the job file's write the runner may seem to have started: the start
# time read from /proc is exact to a few clock ticks, from ps to the second.
START_SLACK = 1.0


def process_start(pid, proc='/proc', clock=time.time):
    """When process ``pid`` started (epoch seconds), or None when there is no such process
    (or only its zombie, which nobody has reaped yet).

    From /proc: its start in clock ticks since boot (``stat``) against the uptime, both
    exact to 10 ms; else from ``ps -o stat=,etime=`` (to the second)."""
    if has_proc(proc):
        try:
            fields = stat_fields(pid, proc)
            uptime = float(read_small(os.path.join(proc, 'uptime')).split()[0])
            ticks = float(fields[19])  # field 22 of stat, the 20th after the name and state
        except (IOError, OSError, ValueError, IndexError):
            return None
        if fields[0] in ('Z', 'X'):
            return None
        return clock() - (uptime - ticks / os.sysconf('SC_CLK_TCK'))
    try:
        out = run_ps(['-o', 'stat=', '-o', 'etime=', '-p', str(pid)], stderr=subprocess.STDOUT)
    except (OSError, subprocess.CalledProcessError):
        return None
    fields = out.split()
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
        if has_proc(proc) and proc_hidden(proc) and foreign_owner(owner_uid):
            return None, [], ('/proc hides other users\' processes, so whether the '
                              'job\'s runner (pid %d) is alive is unknown' % pid)
        return False, [], None
    if started > written + START_SLACK:
        return False, [], None  # another process, with the runner's recycled pid
    return True, [pid], None
