# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of a job's containment (in its meta file) and the figures of its cgroup: what
a status read of a running job needs (_host.job_status.add_containment, async_jobs_info),
kept apart from the rest of _host.containment so that a status poll compiles only this
(an AnsiballZ module's module_utils are compiled at every run).

Private to the collection. Runs on the target: Python 3.6 compatible.
"""

import os
import re

from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import read_small

GROUP_DIR = 'asyncjobs_named'
CGROUP = 'cgroup'
ENVIRON = 'environ'
# The v1 controllers used, in the order their dirs are made (freezer first: membership).
V1_KEYS = ('freezer', 'pids', 'memory', 'cpuacct', 'cpu')
PREFIX_RE = re.compile(r'^j?[0-9]+$')


def _unescape(field):
    if '\\' not in field:
        return field
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text):
    """The cgroup mounts of /proc/<pid>/mountinfo: {controller: (mount point, root)} for
    v1 (the controllers of V1_KEYS), ``''`` for the cgroup2 mount."""
    mounts = {}
    for line in text.splitlines():
        if ' - cgroup' not in line:
            continue  # most mounts: skipped before they are split
        left, sep, right = line.partition(' - ')
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        if tail[0] == 'cgroup2':
            mounts.setdefault('', (point, root))
        elif tail[0] == 'cgroup':
            for opt in tail[2].split(','):
                if opt in V1_KEYS:
                    mounts.setdefault(opt, (point, root))
    return mounts


def read_text(path):
    """A small file's text (no buffered file object: these are read on a status poll)."""
    return read_small(path).decode('utf-8', 'replace')


# --------------------------------------------------------------------------
# The record (in the job's meta file) and its check

_MOUNTS = {}  # cgroup_mounts, read once per process (a wait reads a job every second)


def cgroup_mounts(proc='/proc'):
    """The cgroup mount points of this host (a set), for ``valid_record``."""
    if proc not in _MOUNTS:
        try:
            mounts = parse_mountinfo(read_text(os.path.join(proc, 'self', 'mountinfo')))
        except (IOError, OSError):
            return set()
        _MOUNTS[proc] = frozenset(point for point, _root in mounts.values())
    return set(_MOUNTS[proc])


def valid_record(record, prefix, mount_points):
    """The containment record of a job as read from its meta file, checked: a dict with
    ``mechanism``, and for ``cgroup`` only dirs named ``asyncjobs_named/<prefix>`` under a
    cgroup mount of this host (anything else could make a kill signal processes that are
    not the job's). None when there is none or it does not hold."""
    if not isinstance(record, dict) or not prefix or not PREFIX_RE.match(prefix):
        return None
    mechanism = record.get('mechanism')
    kept = _valid_keeper(record.get('keeper'))
    if mechanism == ENVIRON and record.get('mark') == prefix:
        return dict(mechanism=ENVIRON, mark=prefix, **kept)
    if mechanism != CGROUP:
        return None
    dirs = record.get('dirs')
    if not isinstance(dirs, dict) or not dirs:
        return None
    good = {}
    for key, d in dirs.items():
        if not isinstance(d, str) or not os.path.isabs(d) or os.path.normpath(d) != d:
            return None
        if os.path.basename(d) != prefix or os.path.basename(os.path.dirname(d)) != GROUP_DIR:
            return None
        if not any(d.startswith(point.rstrip('/') + '/') for point in mount_points):
            return None
        if key not in V1_KEYS and key != '':
            return None
        good[key] = d
    return dict(mechanism=CGROUP, dirs=good, mark=prefix, **kept)


def _valid_keeper(keeper):
    """``{'keeper': {pid, start}}`` for a well-formed keeper record, else ``{}``."""
    if not isinstance(keeper, dict):
        return {}
    pid, start = keeper.get('pid'), keeper.get('start')
    if (isinstance(pid, int) and not isinstance(pid, bool) and pid > 1
            and isinstance(start, int) and not isinstance(start, bool) and start >= 0):
        return dict(keeper=dict(pid=pid, start=start))
    return {}


# --------------------------------------------------------------------------
# What the job cost

def _stat_value(text, key):
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == key and fields[1].isdigit():
            return int(fields[1])
    return None


def usage(record):
    """What the job used, from its cgroup: ``cpu_seconds`` (user + system, all its
    processes), ``memory_peak`` (bytes, the most it held at once), ``oom_kills`` (processes
    the kernel killed for going over its memory limit); each only where the cgroup has the
    counter. None without a cgroup, or when it is gone."""
    if not record or record.get('mechanism') != CGROUP:
        return None
    dirs = record['dirs']
    found = {}
    try:
        if 'cpuacct' in dirs:
            used = read_text(os.path.join(dirs['cpuacct'], 'cpuacct.usage'))
            found['cpu_seconds'] = round(int(used) / 1e9, 3)
        elif '' in dirs:
            usec = _stat_value(read_text(os.path.join(dirs[''], 'cpu.stat')), 'usage_usec')
            if usec is not None:
                found['cpu_seconds'] = round(usec / 1e6, 3)
        if 'memory' in dirs:
            found['memory_peak'] = int(read_text(os.path.join(
                dirs['memory'], 'memory.max_usage_in_bytes')))
            oom = _stat_value(read_text(os.path.join(dirs['memory'], 'memory.oom_control')),
                              'oom_kill')
            if oom is not None:
                found['oom_kills'] = oom
        elif '' in dirs and os.path.exists(os.path.join(dirs[''], 'memory.peak')):
            found['memory_peak'] = int(read_text(os.path.join(dirs[''], 'memory.peak')))
            oom = _stat_value(read_text(os.path.join(dirs[''], 'memory.events')), 'oom_kill')
            if oom is not None:
                found['oom_kills'] = oom
    except (IOError, OSError, ValueError):
        if not found:
            return None
    return found
