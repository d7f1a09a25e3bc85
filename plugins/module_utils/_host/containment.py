# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Containment of a job: which processes are the job's, whatever they do.

Two mechanisms, chosen when async_task starts the job (``prepare``):

* ``cgroup``: the job gets a control group of its own in each cgroup hierarchy that it
  can be made in (v1: ``freezer``, ``pids``, ``memory``, ``cpuacct``, ``cpu``; else v2),
  at ``<the start runner's own cgroup>/asyncjobs_named/<jid prefix>``, and the shell that
  runs async_wrapper joins it before anything of the job runs. Every process of the job
  stays in it, daemonized or not (only root can move a process out). Members are read
  from ``cgroup.procs``; the group can be frozen, its counters say what the job cost, and
  limits can be set on it. Needs write access to the cgroup fs (root, in practice).
* ``environ``: the job's environment carries ``ASYNCJOBS_NAMED_JOB=<jid prefix>``, which
  every process it starts inherits. Members are the processes whose
  ``/proc/<pid>/environ`` has it (readable: the same user, or root). A process that
  clears or replaces its environment, or that another user owns (seen by a non-root
  reader), escapes it.

The record of what was chosen goes into the job's meta file (``containment``), so that
async_kill and the status of the job find its members later, from another session.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import errno
import os
import re
import signal
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
    read_small, stat_fields)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.containment_record import (
    CGROUP, ENVIRON, GROUP_DIR, PREFIX_RE, V1_KEYS, parse_mountinfo, read_text)

MARK_VAR = 'ASYNCJOBS_NAMED_JOB'
SIZE_RE = re.compile(r'^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$')
STALE_AFTER = 86400.0   # an empty job cgroup older than this is removed at the next start
UNITS = dict(k=1 << 10, m=1 << 20, g=1 << 30, t=1 << 40)


class ContainmentError(Exception):
    pass


# --------------------------------------------------------------------------
# Reading the cgroup fs

def parse_proc_cgroup(text):
    """/proc/<pid>/cgroup as {controller: path}; the v2 line (``0::/path``) as ``''``."""
    found = {}
    for line in text.splitlines():
        parts = line.split(':', 2)
        if len(parts) != 3:
            continue
        if not parts[1]:
            found[''] = parts[2]
        else:
            for key in parts[1].split(','):
                found[key] = parts[2]
    return found


def _inside(path, root):
    """``path`` relative to ``root`` (both absolute cgroup paths), or None when outside."""
    path, root = os.path.normpath(path), os.path.normpath(root)
    if root == '/':
        return path.lstrip('/')
    if path == root:
        return ''
    if path.startswith(root + '/'):
        return path[len(root) + 1:]
    return None


def base_dirs(mounts, cgroups):
    """Where a job's cgroups go: {key: the dir of the cgroup that ``cgroups`` (of the
    start runner) is in, in each hierarchy}. v1 controllers when any is mounted (hybrid
    hosts mount an empty cgroup2 beside them), else v2."""
    keys = [k for k in V1_KEYS if k in mounts and k in cgroups]
    if not keys and '' in mounts and '' in cgroups:
        keys = ['']
    dirs = {}
    for key in keys:
        point, root = mounts[key]
        rel = _inside(cgroups[key], root)
        if rel is not None and '..' not in rel.split('/'):
            dirs[key] = os.path.join(point, rel) if rel else point
    return dirs


def job_dirs(bases, prefix):
    """The job's cgroup dirs: ``<base>/asyncjobs_named/<prefix>`` in each hierarchy."""
    return dict((k, os.path.join(d, GROUP_DIR, prefix)) for k, d in bases.items())


def _write(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _unique(dirs):
    seen = []
    for d in dirs.values():
        if d not in seen:
            seen.append(d)
    return seen


# --------------------------------------------------------------------------
# The record (in the job's meta file) and its check

# --------------------------------------------------------------------------
# Limits

def parse_size(value):
    """Bytes of ``2G``, ``512M``, ``1.5g``, ``1048576``; ContainmentError otherwise."""
    if isinstance(value, bool):
        raise ContainmentError('invalid memory limit %r' % (value,))
    if isinstance(value, int):
        number, unit = float(value), ''
    else:
        m = SIZE_RE.match(str(value))
        if not m:
            raise ContainmentError('invalid memory limit %r: give bytes or a size such as '
                                   '512M or 2G' % (value,))
        number, unit = float(m.group(1)), m.group(2).lower()
    size = int(number * UNITS.get(unit, 1))
    if size < 1 << 20:
        raise ContainmentError('memory limit %r is under 1M: too small to run a job' % (value,))
    return size


def check_limits(limits):
    """``limits`` (memory, cpu, tasks; all optional) checked and normalized:
    {'memory': bytes, 'cpu': cores (float), 'tasks': int}. ContainmentError for bad input."""
    if not limits:
        return {}
    if not isinstance(limits, dict):
        raise ContainmentError('limits must be a dict with memory, cpu and/or tasks')
    unknown = sorted(set(limits) - set(('memory', 'cpu', 'tasks')))
    if unknown:
        raise ContainmentError('unknown limits %s: give memory, cpu and/or tasks'
                               % ', '.join(unknown))
    out = {}
    if limits.get('memory') is not None:
        out['memory'] = parse_size(limits['memory'])
    if limits.get('cpu') is not None:
        try:
            cpu = float(limits['cpu'])
        except (TypeError, ValueError):
            cpu = 0.0
        if isinstance(limits['cpu'], bool) or not cpu >= 0.01:
            raise ContainmentError('invalid cpu limit %r: give the cores the job may use, '
                                   'such as 0.5 or 2' % (limits['cpu'],))
        out['cpu'] = cpu
    if limits.get('tasks') is not None:
        tasks = limits['tasks']
        if isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 1:
            try:
                tasks = int(str(tasks))
            except ValueError:
                tasks = 0
        if isinstance(limits['tasks'], bool) or tasks < 1:
            raise ContainmentError('invalid tasks limit %r: give the number of processes and '
                                   'threads the job may have at once' % (limits['tasks'],))
        out['tasks'] = tasks
    return out


def _limit_files(dirs, limits):
    """The (file, value) writes that set ``limits`` (checked) on the job's cgroups."""
    writes = []
    v2 = dirs.get('')
    for name, value in sorted(limits.items()):
        if name == 'memory':
            if 'memory' in dirs:
                writes.append((os.path.join(dirs['memory'], 'memory.limit_in_bytes'), str(value)))
            elif v2:
                writes.append((os.path.join(v2, 'memory.max'), str(value)))
            else:
                raise ContainmentError('no memory controller for the job\'s cgroup')
        elif name == 'cpu':
            period = 100000
            quota = str(max(1000, int(value * period)))
            if 'cpu' in dirs:
                writes.append((os.path.join(dirs['cpu'], 'cpu.cfs_period_us'), str(period)))
                writes.append((os.path.join(dirs['cpu'], 'cpu.cfs_quota_us'), quota))
            elif v2:
                writes.append((os.path.join(v2, 'cpu.max'), '%s %d' % (quota, period)))
            else:
                raise ContainmentError('no cpu controller for the job\'s cgroup')
        elif name == 'tasks':
            d = dirs.get('pids') or v2
            if not d:
                raise ContainmentError('no pids controller for the job\'s cgroup')
            writes.append((os.path.join(d, 'pids.max'), str(value)))
    return writes


def _enable_v2(dirs, limits):
    """On cgroup v2, the controllers a limit needs are enabled for the job's cgroup (in its
    parent ``asyncjobs_named``, and in that one's parent)."""
    v2 = dirs.get('')
    if not v2 or not limits:
        return
    wanted = ['+' + n for n in ('memory', 'cpu', 'pids') if n in limits or
              (n == 'pids' and 'tasks' in limits)]
    group = os.path.dirname(v2)
    for d in (os.path.dirname(group), group):
        _write(os.path.join(d, 'cgroup.subtree_control'), ' '.join(wanted))


# --------------------------------------------------------------------------
# Making, joining, removing

def prepare(prefix, limits=None, proc='/proc'):
    """Choose the job's containment before it starts, and make its cgroups when it can.

    Returns (record, why): the record for the meta file (``mechanism`` ``cgroup`` with its
    ``dirs``, else ``environ``), and why there is no cgroup (None when there is). Limits
    need the cgroup: without one, ContainmentError says so (nothing is made)."""
    limits = check_limits(limits)
    why = None
    try:
        mounts = parse_mountinfo(read_text(os.path.join(proc, 'self', 'mountinfo')))
        bases = base_dirs(mounts, parse_proc_cgroup(read_text(os.path.join(proc, 'self', 'cgroup'))))
    except (IOError, OSError) as e:
        bases, why = {}, 'cannot read the cgroups of this process: %s' % e
    if 'cpu' not in limits and 'cpu' in bases and bases.get('cpuacct') != bases['cpu']:
        # The cpu controller only for a cpu limit: a cgroup of its own there would make the
        # whole job one entity for the scheduler (its async_wrapper, its module starting, its
        # children sharing one task's share of a busy host). cpuacct counts its CPU anyway.
        bases = dict((k, v) for k, v in bases.items() if k != 'cpu')
    if bases:
        dirs = job_dirs(bases, prefix)
        try:
            remove_stale(bases)
            make(dirs, limits)
            return dict(mechanism=CGROUP, dirs=dirs, mark=prefix, limits=limits), None
        except (IOError, OSError, ContainmentError) as e:
            why = 'cannot make the job\'s cgroup: %s' % e
    elif why is None:
        why = 'no cgroup hierarchy is mounted'
    if limits:
        raise ContainmentError('limits need a cgroup of the job, and none can be made here (%s)'
                               % why)
    return dict(mechanism=ENVIRON, mark=prefix), why


def make(dirs, limits=None):
    """Make the job's cgroup dirs and set ``limits`` (checked) on them; on any failure
    remove what was made and raise."""
    made = []
    try:
        for d in _unique(dirs):
            parent = os.path.dirname(d)
            if not os.path.isdir(parent):
                try:
                    os.mkdir(parent, 0o755)
                except OSError as e:
                    if e.errno != errno.EEXIST:
                        raise
            os.mkdir(d, 0o755)
            made.append(d)
        if limits:
            _enable_v2(dirs, limits)
            for path, value in _limit_files(dirs, limits):
                _write(path, value)
    except BaseException:
        for d in reversed(made):
            try:
                os.rmdir(d)
            except OSError:
                pass
        raise


def joiner(record):
    """A function for ``subprocess.Popen(preexec_fn=...)``: the child (the shell that runs
    async_wrapper) moves itself into the job's cgroups before it execs, so that every
    process of the job starts inside. None for another mechanism."""
    if not record or record.get('mechanism') != CGROUP:
        return None
    procs = [os.path.join(d, 'cgroup.procs') for d in _unique(record['dirs'])]

    def join():
        pid = str(os.getpid()).encode()
        for path in procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
    return join


def marked_env(env, record):
    """The job's environment with its mark (both mechanisms: the fallback's membership,
    and a way to tell a job's process under a cgroup too)."""
    env = dict(os.environ if env is None else env)
    env[MARK_VAR] = record['mark']
    return env


def remove(record):
    """Remove the job's cgroup dirs that are empty. Returns the dirs still there."""
    left = []
    if not record or record.get('mechanism') != CGROUP:
        return left
    for d in _unique(record['dirs']):
        try:
            os.rmdir(d)
        except OSError as e:
            if e.errno != errno.ENOENT:
                left.append(d)
    return left


REMOVER = ('n=0; while [ $n -lt %d ]; do rmdir "$@" 2>/dev/null; left=; '
           'for d; do [ -d "$d" ] && left=1; done; [ -z "$left" ] && exit 0; '
           'n=$((n+1)); sleep 1; done')


def remove_later(record, seconds=15):
    """Remove the job's cgroup dirs once they are empty, from a small detached process
    (``sh``: ``rmdir`` every second, up to ``seconds``), for a job whose async_wrapper
    watcher is still in its cgroup (it exits a few seconds after the job). ``rmdir`` removes
    only an empty cgroup. Returns the remover's pid, or None when it could not start."""
    if not record or record.get('mechanism') != CGROUP:
        return None
    argv = ['/bin/sh', '-c', REMOVER % seconds, 'sh'] + _unique(record['dirs'])
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the remover: a session of its own, its streams on /dev/null
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, 1024)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)  # pylint: disable=protected-access
    return pid


def remove_stale(bases, now=None, age=STALE_AFTER):
    """Remove the empty job cgroups under ``bases`` made more than ``age`` seconds ago: those
    of jobs whose status was never read once they ended (that read records their figures
    and removes their cgroup). A cgroup with a process in it is never removed."""
    now = time.time() if now is None else now
    first = _unique(bases)[0]
    group = os.path.join(first, GROUP_DIR)
    try:
        names = os.listdir(group)
    except OSError:
        return []
    removed = []
    for name in names:
        if not PREFIX_RE.match(name):
            continue
        try:
            if now - os.stat(os.path.join(group, name)).st_mtime < age:
                continue
        except OSError:
            continue
        if not remove(dict(mechanism=CGROUP, dirs=job_dirs(bases, name))):
            removed.append(name)
    return removed


# --------------------------------------------------------------------------
# Members

def cgroup_members(record):
    """The pids in the job's cgroups (the union over its hierarchies). (pids, complete)."""
    pids, complete = set(), True
    for d in _unique(record['dirs']):
        try:
            text = read_text(os.path.join(d, 'cgroup.procs'))
        except (IOError, OSError) as e:
            if e.errno != errno.ENOENT:
                complete = False
            continue
        pids.update(int(x) for x in text.split() if x.isdigit())
    return pids, complete


def environ_members(mark, proc='/proc'):
    """The processes whose environment has ``ASYNCJOBS_NAMED_JOB=<mark>`` (those this
    process may read: its own user's, or all for root). (pids, complete): complete is
    False when some process's environment could not be read."""
    needle = ('\0%s=%s\0' % (MARK_VAR, mark)).encode()
    me = os.getpid()
    pids, complete = set(), True
    for name in os.listdir(proc):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            environ = read_small(os.path.join(proc, name, 'environ'))
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EPERM):
                complete = False
            continue
        if needle in b'\0' + environ + b'\0':
            pids.add(int(name))
    return pids, complete


def _stat_of(pid, proc):
    """processes.stat_fields, None for a process that is gone."""
    try:
        return stat_fields(pid, proc)
    except (IOError, OSError):
        return None


def start_time(pid, proc='/proc'):
    """The start time of ``pid`` (clock ticks after boot, /proc/<pid>/stat field 22): with
    the pid, it names one process (a pid can be reused). None when it is gone."""
    return _started(_stat_of(pid, proc))


def _started(fields):
    try:
        return int(fields[19]) if fields else None
    except (ValueError, IndexError):
        return None


def keeper_alive(record, proc='/proc'):
    """Whether the job's keeper (_host.keeper) still runs: its pid, with the start time
    recorded (not another process that got the pid since)."""
    keeper = record.get('keeper') if record else None
    if not keeper:
        return False
    fields = _stat_of(keeper['pid'], proc)
    return bool(fields) and fields[0] != 'Z' and _started(fields) == keeper['start']


def descendants(record, proc='/proc'):
    """The processes descended from the job's keeper: the job's, whatever they did (the
    keeper is a child subreaper: a process whose parent exits is re-parented to it). An
    empty set when the job has no keeper or it is gone (its pid then names another
    process, or none)."""
    if not keeper_alive(record, proc):
        return set()
    root = record['keeper']['pid']
    children = {}
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        fields = _stat_of(name, proc)
        if fields is None or len(fields) < 2 or not fields[1].isdigit():
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = set(), list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def primary_members(record, proc='/proc'):
    """The pids of the job by its mechanism (its cgroup, or the mark in the environment):
    (pids, complete)."""
    if record['mechanism'] == CGROUP:
        return cgroup_members(record)
    return environ_members(record['mark'], proc)


def members(record, proc='/proc'):
    """The live processes of the job by its containment record, its mechanism's and its
    keeper's descendants: (pids, complete)."""
    pids, complete = primary_members(record, proc)
    pids.update(descendants(record, proc))
    pids.discard(os.getpid())
    live = set()
    for pid in pids:
        fields = _stat_of(pid, proc)
        if fields and fields[0] != 'Z':
            live.add(pid)
    return live, complete


# --------------------------------------------------------------------------
# Freezing and killing

def _freezer(record):
    dirs = record.get('dirs') or {}
    if 'freezer' in dirs:
        return os.path.join(dirs['freezer'], 'freezer.state'), 'FROZEN', 'THAWED'
    if '' in dirs and os.path.exists(os.path.join(dirs[''], 'cgroup.freeze')):
        return os.path.join(dirs[''], 'cgroup.freeze'), '1', '0'
    return None


def freeze(record, sleep=time.sleep):
    """Freeze the job's cgroup (nothing in it runs, so nothing forks away while its pids
    are read and signalled). True when frozen, False when there is no freezer."""
    freezer = _freezer(record) if record.get('mechanism') == CGROUP else None
    if freezer is None:
        return False
    path, frozen, _thawed = freezer
    try:
        _write(path, frozen)
        if path.endswith('freezer.state'):
            for _i in range(50):
                if read_text(path).strip() == frozen:
                    break
                sleep(0.01)
        return True
    except (IOError, OSError):
        return False


def thaw(record):
    freezer = _freezer(record) if record.get('mechanism') == CGROUP else None
    if freezer is not None:
        try:
            _write(freezer[0], freezer[2])
        except (IOError, OSError):
            pass


def signal_members(record, number, proc='/proc', sleep=time.sleep, spare=None):
    """Send ``number`` to every member of the job (but those ``spare(pid)`` is true for),
    with its cgroup frozen meanwhile where it can be. Returns the pids signalled."""
    frozen = freeze(record, sleep=sleep)
    try:
        pids = _spared(members(record, proc)[0], spare)
        for pid in sorted(pids):
            try:
                os.kill(pid, number)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise
    finally:
        if frozen:
            thaw(record)
    return sorted(pids)


def _spared(pids, spare):
    return set(pids) if spare is None else set(p for p in pids if not spare(p))


def stop_members(record, number=signal.SIGTERM, grace=5.0, proc='/proc', sleep=time.sleep,
                 clock=time.time, spare=None):
    """Stop every member of the job (but those ``spare(pid)`` is true for: the job's own
    async_wrapper, which exits by itself once the job has ended): ``number``, up to
    ``grace`` seconds, SIGKILL, then up to 5 s for them to go. Returns (signalled,
    unstopped)."""
    signalled = set(signal_members(record, number, proc, sleep, spare))
    deadline = clock() + max(0.0, grace)
    left = signalled
    while left and clock() < deadline:
        sleep(0.1)
        left = _spared(members(record, proc)[0], spare)
    if left:
        signalled.update(signal_members(record, signal.SIGKILL, proc, sleep, spare))
        for _i in range(50):
            left = _spared(members(record, proc)[0], spare)
            if not left:
                break
            sleep(0.1)
    return sorted(signalled), sorted(left)
