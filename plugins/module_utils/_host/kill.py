# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Killing a job: its processes (the wrappers, the job's process group and every
descendant), a signal, a grace period, SIGKILL, then the killed state in its file.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import errno
import os
import signal
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import (
    is_mitogen_jid, jid_prefix, job_path)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import (
    job_liveness, job_status, read_job, read_meta, wrapper_of)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import RUNNING
from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
    is_wrapper_cmdline, process_table, wrapper_liveness)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import atomic_write_json
from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    containment, containment_record)


# --------------------------------------------------------------------------
# Processes of a job

def job_processes(jid, table, known=(), groups=(), runner=None):
    """The processes of a job: its async_wrapper processes (watcher, runner), every
    process in the runner's process group, and every descendant of either. A job of
    Mitogen for Ansible has no wrapper: its ``runner`` (the pid its job file records,
    checked alive) leads its own process group.

    Once the wrapper processes are gone nothing in the table ties the job's other
    processes to it any more, so the pids (``known``) and process groups (``groups``)
    found before are included too, while they live.
    """
    prefix = jid_prefix(jid)
    if prefix:
        wrappers = set(p['pid'] for p in table if is_wrapper_cmdline(p['args'], prefix))
    else:
        wrappers = set([runner]) if runner else set()
    groups = set(groups)
    groups.update(p['pgid'] for p in table if p['pid'] in wrappers and p['pgid'] == p['pid'])
    members = set(wrappers)
    members.update(known)
    members.update(p['pid'] for p in table if p['pgid'] in groups)
    children = {}
    for p in table:
        children.setdefault(p['ppid'], []).append(p['pid'])
    todo = list(members)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in members:
                members.add(child)
                todo.append(child)
    live = dict((p['pid'], p) for p in table if p['state'] != 'Z')
    return sorted(pid for pid in members if pid in live and pid != os.getpid())


def _mitogen_runner(async_dir, jid):
    """The pid of the runner of a job of Mitogen for Ansible, when it is alive (the pid its
    job file records, and that process started before the file was written); else None."""
    if not is_mitogen_jid(jid):
        return None
    alive, pids, _why = job_liveness(jid, read_job(job_path(async_dir, jid)), None)
    return pids[0] if alive and pids else None


# --------------------------------------------------------------------------
# Signals

def signal_number(value):
    """Signal number of 'TERM', 'SIGTERM', 'term' or '15'; JobError otherwise."""
    text = str(value).strip()
    if text.isdigit():
        number = int(text)
        if 0 < number < getattr(signal, 'NSIG', 65):
            return number
    else:
        name = text.upper()
        if not name.startswith('SIG'):
            name = 'SIG' + name
        number = getattr(signal, name, None)
        if isinstance(number, int) and not name.startswith('SIG_'):
            return int(number)
    raise JobError('invalid signal %r: give a signal name such as TERM, INT, KILL or '
                   'a number' % (value,))


def signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _send(pids, number):
    for pid in pids:
        try:
            os.kill(pid, number)
        except OSError as e:
            if e.errno != errno.ESRCH:
                raise


# --------------------------------------------------------------------------
# Kill

def job_record(async_dir, jid, proc='/proc'):
    """The containment record of job ``jid`` from its meta file (async_task's jobs), checked
    (_host.containment.valid_record), or None."""
    meta = read_meta(async_dir, jid) or {}
    if not meta.get('containment'):
        return None
    return containment_record.valid_record(meta['containment'], jid_prefix(jid),
                                           containment_record.cgroup_mounts(proc))


def _escaped(record, found, proc):
    """Processes of the job that its mechanism misses and another way sees: under a cgroup,
    processes with the job's mark or descended from its keeper that left the cgroup; under
    the fallback, processes of the job's tree or group, or descended from its keeper,
    without the mark (they cleared their environment). They are the job's all the same, so
    they are stopped too."""
    if record is None:
        return []
    seen = set(found) | containment.descendants(record, proc)
    if record['mechanism'] == containment.CGROUP:
        seen |= containment.environ_members(record['mark'], proc)[0]
    seen.discard(os.getpid())
    return sorted(seen - containment.primary_members(record, proc)[0])


def _members(jid, proc, record, known=(), groups=(), runner=None):
    """Every live process of the job: its wrappers, process group and tree
    (``job_processes``), and the members its containment record gives."""
    pids = set(job_processes(jid, process_table(proc), known=known, groups=groups,
                             runner=runner))
    if record is not None:
        pids.update(containment.members(record, proc)[0])
    return pids


def _signal(record, pids, number, first=()):
    """Send ``number`` to ``pids`` (SIGKILL to ``first`` before), with the job's cgroup
    frozen meanwhile where it can be: nothing forks away between the listing and the
    signal. Members of the cgroup that the listing missed get the signal too."""
    frozen = containment.freeze(record) if record is not None else False
    try:
        _send(first, signal.SIGKILL)
        more = containment.cgroup_members(record)[0] if frozen else set()
        _send(sorted((set(pids) | more) - set(first) - set([os.getpid()])), number)
    finally:
        if frozen:
            containment.thaw(record)


def stop_leftovers(async_dir, jid, status, number, grace, check_mode, proc, sleep, clock,
                   liveness=wrapper_liveness):
    """The processes of a job that is no longer running (finished, timed out, orphaned,
    killed) but that its containment finds still there: a daemon it left behind. They get
    ``number``, then SIGKILL after ``grace``; the job file keeps the job's result."""
    record = job_record(async_dir, jid, proc)
    result = dict(status, changed=False, pids=[], signal=signal_name(number), unstopped=[])
    if record is None:
        return result
    result['containment'] = dict(status.get('containment') or {}, mechanism=record['mechanism'])
    # The job's async_wrapper (its watcher) ends by itself once the job has ended.
    spare = wrapper_of(jid, proc)
    pids = sorted(pid for pid in containment.members(record, proc)[0] if not spare(pid))
    if not pids:
        return result
    result.update(changed=True, pids=pids)
    if check_mode:
        return result
    signalled, left = containment.stop_members(record, number, grace, proc, sleep, clock,
                                               spare=spare)
    # Read again: with nothing left, the status records the job's figures and removes its
    # cgroup (job_status.add_containment).
    result.update(job_status(async_dir, jid=jid, liveness=liveness), changed=True,
                  pids=signalled, unstopped=left, signal=signal_name(number))
    result['msg'] = ('job %s had ended (%s), but processes %s of it were still running: they '
                     'were sent %s%s' % (jid, status['state'], signalled, signal_name(number),
                                         '; %s did not exit even after SIGKILL' % left
                                         if left else ''))
    return result


def kill(async_dir, jid, sig='TERM', grace=5.0, check_mode=False, liveness=wrapper_liveness,
         proc='/proc', sleep=time.sleep, clock=time.time):
    """Stop a running job's processes and mark its file killed.

    The watcher is stopped first (so it cannot report a timeout meanwhile), then the
    job's processes get ``sig``; those still alive after ``grace`` seconds get SIGKILL.
    The job's processes are those of its process tree and group and, for a job that
    async_task started, every member by its containment (its cgroup, or the mark in its
    environment: _host.containment), daemonized ones too; the cgroup is frozen while they
    are signalled. A job that is no longer running but left processes of it behind has
    those stopped (``stop_leftovers``).
    A job that finished meanwhile keeps its real result. Returns the status plus
    ``changed``, ``pids`` (the processes signalled), ``signal``, ``unstopped`` (the
    processes still there even after SIGKILL: empty when the job is stopped for sure) and,
    for a contained job, ``containment`` (``mechanism``, and ``escaped``: processes that one
    of its mechanisms missed).
    """
    number = signal_number(sig)
    status = job_status(async_dir, jid=jid, liveness=liveness)
    if status['state'] != RUNNING:
        return stop_leftovers(async_dir, jid, status, number, grace, check_mode, proc, sleep,
                              clock, liveness)
    result = dict(status, changed=False, pids=[], signal=signal_name(number), unstopped=[])
    record = job_record(async_dir, jid, proc)
    table = process_table(proc)
    runner = _mitogen_runner(async_dir, jid)
    found = job_processes(jid, table, runner=runner)
    pids = sorted(_members(jid, proc, record, known=found, runner=runner))
    escaped = _escaped(record, pids, proc)
    pids = sorted(set(pids) | set(escaped))
    result.update(changed=True, pids=pids)
    if record is not None:
        result['containment'] = dict(status.get('containment') or {},
                                     mechanism=record['mechanism'], escaped=escaped)
    if check_mode:
        return result
    # Remembered: the wrappers die first, and a process that ignores the signal (or got
    # none yet) must still be found for the SIGKILL after the grace.
    groups = set(p['pgid'] for p in table if p['pid'] in pids and p['pgid'] == p['pid'])
    prefix = jid_prefix(jid)
    watchers = [p['pid'] for p in table
                if prefix and p['pid'] in pids and is_wrapper_cmdline(p['args'], prefix)
                and p['pgid'] != p['pid']]
    _signal(record, pids, number, first=watchers)
    deadline = clock() + max(0.0, grace)

    def still():
        left = _members(jid, proc, record, known=pids, groups=groups)
        return [p for p in pids if p in left] + sorted(p for p in left if p not in pids)
    while True:
        left = still()
        if not left or clock() >= deadline:
            break
        sleep(0.1)
    if left:
        _signal(record, left, signal.SIGKILL)
        for _i in range(50):
            left = still()
            if not left:
                break
            sleep(0.1)
    # The status read below records the job's figures and removes its cgroup once empty.
    job = read_job(job_path(async_dir, jid))
    extra = dict(changed=True, pids=pids, signal=signal_name(number), unstopped=left)
    if job.finished:
        # It finished on its own before the signal arrived: keep its real result.
        final = job_status(async_dir, jid=jid, liveness=liveness)
        final.update(extra)
        return _with_containment(final, record, escaped)
    msg = 'job %s was killed by asyncjobs.named.async_kill with %s' % (jid, signal_name(number))
    if left:
        msg += '; processes %s did not exit even after SIGKILL' % left
    data = dict(started=True, finished=True, failed=True, killed=True, ansible_job_id=jid,
                msg=msg, signal=signal_name(number))
    atomic_write_json(job_path(async_dir, jid), data)
    final = job_status(async_dir, jid=jid, liveness=liveness)
    final.update(extra)
    return _with_containment(final, record, escaped)


def _with_containment(result, record, escaped):
    if record is not None:
        result['containment'] = dict(result.get('containment') or {},
                                     mechanism=record['mechanism'], escaped=escaped)
    return result
