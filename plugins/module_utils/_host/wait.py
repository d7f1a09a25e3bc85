# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting on the host for one job or several, in slices.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import os
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import find_alias
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import (
    jid_prefix, job_path)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.jobs_input import ref_name
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.entries import meta_output_log

from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import (
    job_status, read_job, read_meta)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import (
    ABSENT, RUNNING)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
    is_wrapper_cmdline, liveness_snapshot, process_args, wrapper_liveness)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.failpoints import failpoint

# How often the file is read while waiting on the host, and how often liveness
# (a scan of the process table) is checked.
POLL_INTERVAL = 0.2
LIVENESS_INTERVAL = 1.0


# --------------------------------------------------------------------------
# The wrappers of a job waited for

def still_wrappers(jid, pids, proc='/proc'):
    """Those of ``pids`` (found by a scan) that are still async_wrapper processes of job
    ``jid``: a look at their own command lines only, not at every process's."""
    prefix = jid_prefix(jid)
    alive = []
    for pid in pids or ():
        try:
            args = process_args(pid, proc)
        except (IOError, OSError):
            continue  # gone, or no /proc
        if is_wrapper_cmdline(args, prefix):
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


# --------------------------------------------------------------------------
# Which jobs

def resolve(async_dir, jid=None, alias=None):
    """The jid of the job given by jid or alias; JobError when there is none."""
    if jid is not None:
        if not os.path.exists(job_path(async_dir, jid)):
            raise JobError('could not find job', ansible_job_id=jid, started=True, finished=True,
                           results_file=job_path(async_dir, jid))
        return jid
    _link, path = find_alias(async_dir, alias)
    if path is None or not os.path.exists(path):
        raise JobError('no job named %r in %s' % (alias, async_dir), ansible_job_alias=alias,
                       started=False, finished=False, state=ABSENT)
    return os.path.basename(path)


def resolve_refs(async_dir, refs):
    """The jid of each job of ``refs`` (job_refs), as ``resolve`` finds it; a JobError names
    the entry that has none, or that is the same job as an earlier one."""
    jids = []
    for i, ref in enumerate(refs):
        try:
            jid = resolve(async_dir, jid=ref.get('jid'), alias=None if 'jid' in ref else ref['alias'])
        except JobError as e:
            raise JobError('%s: %s' % (ref_name(i, ref), e.msg), **e.result)
        if jid in jids:
            j = jids.index(jid)
            raise JobError('%s is the same job as %s: give each job once'
                           % (ref_name(i, ref), ref_name(j, refs[j])), ansible_job_id=jid)
        jids.append(jid)
    return jids


# --------------------------------------------------------------------------
# Waiting

def wait_for(async_dir, jid, seconds, liveness=wrapper_liveness, clock=time.time,
             sleep=time.sleep, interval=POLL_INTERVAL, liveness_interval=LIVENESS_INTERVAL):
    """Wait up to ``seconds`` for job ``jid`` to leave the running state.

    The job file is read every ``interval`` seconds (cheap); the full status with
    the wrapper liveness check every ``liveness_interval`` (after the first, a look at
    the wrapper processes found before, see ``watching``). Returns the status.
    """
    start = clock()
    deadline = start + max(0.0, seconds)
    liveness_of = watching(lambda jids: liveness)
    status = job_status(async_dir, jid=jid, liveness=liveness_of([jid]))
    checked = clock()
    path = job_path(async_dir, jid)
    while status['state'] == RUNNING:
        now = clock()
        if now >= deadline:
            break
        failpoint('in-wait-slice', jid=jid)
        sleep(min(interval, deadline - now))
        job = read_job(path)
        if not job.exists or job.finished or clock() - checked >= liveness_interval:
            status = job_status(async_dir, jid=jid, liveness=liveness_of([jid]))
            checked = clock()
    status['waited'] = round(clock() - start, 3)
    return status


def wait_for_all(async_dir, jids, seconds, liveness_for=liveness_snapshot, clock=time.time,
                 sleep=time.sleep, interval=POLL_INTERVAL, liveness_interval=LIVENESS_INTERVAL):
    """Wait up to ``seconds`` for every job of ``jids`` to leave the running state.

    As ``wait_for``, for several jobs at once: their files are read every ``interval``
    seconds, and the liveness of those still running is checked every
    ``liveness_interval``: by their wrapper processes found before (``watching``), and
    with one scan of the process table for all the others. Returns their statuses, in
    the order of ``jids``.
    """
    start = clock()
    deadline = start + max(0.0, seconds)
    liveness_for = watching(liveness_for)
    liveness = liveness_for(jids)
    statuses = [job_status(async_dir, jid=jid, liveness=liveness) for jid in jids]
    checked = clock()
    while True:
        running = [i for i, status in enumerate(statuses) if status['state'] == RUNNING]
        now = clock()
        if not running or now >= deadline:
            break
        failpoint('in-wait-slice', jid=jids[running[0]])
        sleep(min(interval, deadline - now))
        if clock() - checked >= liveness_interval:
            liveness = liveness_for([jids[i] for i in running])
            due = running
            checked = clock()
        else:
            due = [i for i in running if _ended(job_path(async_dir, jids[i]))]
        for i in due:
            statuses[i] = job_status(async_dir, jid=jids[i], liveness=liveness)
    waited = round(clock() - start, 3)
    for status in statuses:
        status['waited'] = waited
    return statuses


def _ended(path):
    """True when the job file at ``path`` is gone or says the job finished."""
    job = read_job(path)
    return not job.exists or job.finished


# --------------------------------------------------------------------------
# Progress of a running job

def running_since(async_dir, jid, meta=None):
    """When a running job started (epoch): async_task's record of it (``meta``, read when
    not given), else the time its job file was written (async_wrapper writes it at the
    start and not again until the end); None when neither is known."""
    meta = (read_meta(async_dir, jid) if meta is None else meta) or {}
    if isinstance(meta.get('started'), (int, float)) and not isinstance(meta['started'], bool):
        return float(meta['started'])
    try:
        return os.stat(job_path(async_dir, jid)).st_mtime
    except OSError:
        return None


def add_progress(async_dir, status, clock=time.time, tail_lines=0):
    """Add to the status of a running job ``running_for`` (seconds since it started) and,
    when its output is captured (async_task's command forms), ``stdout_tail`` and
    ``stderr_tail``: the last ``tail_lines`` lines of each stream (none when 0)."""
    if status.get('state') != RUNNING:
        return status
    jid = status['ansible_job_id']
    meta = read_meta(async_dir, jid)
    since = running_since(async_dir, jid, meta=meta or {})
    if since is not None:
        status['running_for'] = round(max(0.0, clock() - since), 1)
    log = meta_output_log(async_dir, meta)
    if log and tail_lines > 0:
        from ansible_collections.asyncjobs.named.plugins.module_utils._host.output import (
            output_tails)  # here: a start or a wait without tails does not need it
        status['stdout_tail'], status['stderr_tail'] = output_tails(log, tail_lines)
    return status
