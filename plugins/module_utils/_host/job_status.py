# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Job files and job states of asyncjobs.named: reading a job file, and the status of a
job by jid or by name, liveness included.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import errno
import json
import os

from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import find_alias
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import (
    ABSENT, KILLED, ORPHANED, RUNNING, TIMED_OUT, finished_state)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import (
    is_mitogen_jid, jid_prefix, job_path, meta_path)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
    liveness_snapshot, wrapper_liveness)

# Keys that every result describes a job with, whatever the mode.
SUMMARY_KEYS = ('started', 'finished', 'killed', 'pid_missing', 'state', 'ansible_job_id',
                'ansible_job_alias', 'results_file')


# --------------------------------------------------------------------------
# Job files

class JobFile:
    """What a job file held when read: ``data`` (dict) or why there is none, and when it
    was last written (``mtime``)."""

    def __init__(self, path, exists, data=None, raw=None, mtime=None):
        self.path = path
        self.exists = exists
        self.data = data
        self.raw = raw
        self.mtime = mtime

    @property
    def parsed(self):
        return isinstance(self.data, dict)

    @property
    def finished(self):
        """Native rule: finished when ``finished`` is true or there is no ``started`` key."""
        if not self.parsed:
            return False
        return bool(self.data.get('finished')) or 'started' not in self.data


def read_job(path):
    """Read a job file. Never raises for a missing, empty or unparsable file."""
    try:
        with open(path, 'rb') as f:
            mtime = os.fstat(f.fileno()).st_mtime
            raw = f.read()
    except (IOError, OSError) as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return JobFile(path, False)
        raise
    raw = raw.decode('utf-8', 'replace')
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = None
    return JobFile(path, True, data, raw, mtime)


# --------------------------------------------------------------------------
# Status

def job_liveness(jid, job, liveness, owner_uid=None):
    """Whether the runner of an unfinished job is alive: (alive, pids, why).

    async_wrapper's jobs by ``liveness`` (a scan for its processes, injectable); Mitogen
    for Ansible's by the runner pid its job file records and that process's start time
    (``runner_liveness``). The one place where the two runners differ for a status."""
    if is_mitogen_jid(jid):
        if not job.parsed:
            return None, [], 'its job file is not valid JSON, so it names no runner process'
        from ansible_collections.asyncjobs.named.plugins.module_utils._host.mitogen import (
            runner_liveness)  # here: a status of async_wrapper's jobs does not need it
        return runner_liveness(job.data.get('pid'), job.mtime, owner_uid=owner_uid)
    return liveness(jid, owner_uid=owner_uid)


def runner_name(jid):
    """What runs the job, in messages: async_wrapper, or Mitogen's runner."""
    return "Mitogen for Ansible's runner" if is_mitogen_jid(jid) else 'async_wrapper'


def _owner(path):
    try:
        return os.stat(path).st_uid
    except OSError:
        return None


def job_status(async_dir, jid=None, alias=None, liveness=wrapper_liveness):
    """Status of a job, looked up by jid or alias.

    Returns a dict with the job file's own keys merged with ``started``,
    ``finished`` (bools, as the module of ansible-core 2.19+ returns them; the action
    plugin gives them the type of the controller's native async_status), ``killed``,
    ``pid_missing``, ``ansible_job_id``, ``results_file`` and ``state`` (and
    ``ansible_job_alias`` by alias). Raises JobError("could not find job") for an
    unknown jid, as native async_status fails.
    """
    link = None
    if alias is not None:
        link, path = find_alias(async_dir, alias)
        if path is None:
            return _absent(alias, None, None)
        jid = os.path.basename(path)
    else:
        path = job_path(async_dir, jid)

    job = read_job(path)
    alive, warning = True, None
    if job.exists and not job.finished:
        alive, _pids, warning = job_liveness(jid, job, liveness, owner_uid=_owner(path))
        # Re-read: a job that finished during the scan is not dead.
        job = read_job(path)
    if not job.exists:
        if alias is not None:
            return _absent(alias, jid, path)
        raise JobError('could not find job', ansible_job_id=jid, started=True, finished=True,
                       results_file=path)
    result = describe(job, jid, alive)
    if warning and result['state'] == RUNNING:
        result['warnings'] = [warning]
    if os.path.exists(meta_path(async_dir, jid)):
        add_containment(async_dir, jid, result)
    if alias is not None:
        result['ansible_job_alias'] = alias
    return result


def describe(job, jid, alive):
    """Build the status result of an existing job file. ``alive`` is the wrapper's
    liveness (True/False/None), only used while the job is unfinished."""
    base = dict(ansible_job_id=jid, results_file=job.path, killed=False, pid_missing=False)
    if job.parsed and job.finished:
        result = dict(job.data)
        result.update(base)
        result['started'] = True
        result['finished'] = True
        state = finished_state(job.data)
        result['killed'] = state == KILLED
        result['state'] = state
        return result
    if alive is False:
        runner = '%s process' % runner_name(jid)
        if job.parsed:
            why = 'its %s is gone' % runner
        elif job.raw.strip():
            why = 'its job file is not valid JSON and its %s is gone' % runner
        else:
            why = 'its job file is empty and its %s is gone' % runner
        result = dict(job.data or {})
        result.update(base)
        result.update(
            started=True, finished=True, failed=True, pid_missing=True, state=ORPHANED,
            msg=('job %s never finished: %s (killed, crashed or the host rebooted); '
                 'its result is lost' % (jid, why)))
        return result
    result = dict(job.data or {})
    result.update(base)
    result.update(started=True, finished=False, state=RUNNING)
    return result


def read_meta(async_dir, jid):
    """async_task's record of how it started job ``jid`` (see _host.writes.write_meta), or
    None."""
    try:
        with open(meta_path(async_dir, jid)) as f:
            meta = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def add_containment(async_dir, jid, result, proc='/proc'):
    """Add to the status of a job that async_task started ``containment``: its mechanism
    and, from its cgroup, what it used (_host.containment_record.usage). Once the job has
    ended (``_containment_ended``):

    * a job stopped at its ``async:`` time limit (native async kills only its process
      group) has every other member of it killed (``swept``: their pids): by the job's
      keeper as soon as the limit's kill is done, else at the first status read after it;
    * processes of it still running are reported (``left_running``), never killed (a job
      may start a daemon on purpose; async_kill stops them);
    * when none is left, its figures are recorded in its meta file and its cgroup removed:
      later reads report the recorded figures.

    A job over its memory limit (``oom_kills``) that failed says so in ``msg``."""
    # Imported here: only a job of async_task, with its meta file, needs it. A running job's
    # read needs only the record and the figures (not the rest of _host.containment).
    from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
        containment_record)
    meta = read_meta(async_dir, jid) or {}
    raw = meta.get('containment')
    if not isinstance(raw, dict):
        return
    info = raw.get('final')
    if not isinstance(info, dict):
        record = containment_record.valid_record(raw, jid_prefix(jid),
                                                 containment_record.cgroup_mounts(proc))
        if record is None:
            return
        if result['state'] == RUNNING:
            info = dict(mechanism=record['mechanism'])
            info.update(containment_record.usage(record) or {})
        else:
            info = _containment_ended(async_dir, jid, result, record, proc)
    result['containment'] = info
    limit = ((raw.get('limits') or {}).get('memory') if isinstance(raw.get('limits'), dict)
             else None)
    if info.get('oom_kills') and result.get('failed') and result['state'] != RUNNING:
        result['msg'] = ('job %s went over its memory limit%s: the kernel killed %d of its '
                         'processes (out of memory). %s' % (
                             jid, ' of %s bytes' % limit if limit else '', info['oom_kills'],
                             result.get('msg') or '')).strip()


def _containment_ended(async_dir, jid, result, record, proc):
    from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
        containment, containment_record)
    info = dict(mechanism=record['mechanism'])
    cgroup = record['mechanism'] == containment.CGROUP
    left = []
    # The job's async_wrapper (its watcher, which exits once it has cleaned up after the
    # job) is not something the job left running.
    spare = wrapper_of(jid, proc)
    if result['state'] == TIMED_OUT:
        swept, left = containment.stop_members(record, 9, 0.0, proc, spare=spare)
        info['swept'] = swept
    elif cgroup or result['state'] == ORPHANED or record.get('keeper'):
        left = sorted(pid for pid in containment.members(record, proc)[0] if not spare(pid))
    if left:
        info['left_running'] = left
    info.update(containment_record.usage(record) or {})
    if not left:
        # Recorded first, removed after: a reader never finds the cgroup gone and its
        # figures not recorded.
        info = _record_final(async_dir, jid, info)
        if cgroup and containment.remove(record) and not containment.keeper_alive(record, proc):
            # Its watcher (async_wrapper) is still there: it looks at the job every few
            # seconds, then cleans up and exits. The cgroup goes once it has (the job's
            # keeper, when it has one, removes it then).
            containment.remove_later(record)
    return info


def _record_final(async_dir, jid, info):
    """Record the job's final figures in its meta file and return what is recorded. The
    meta file is read again now: another reader (the job's keeper, a status poll) may have
    recorded them meanwhile; the first record stands (read while the cgroup was there),
    with the processes that this reader swept added."""
    # Imported here: writes imports this module.
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import (
        atomic_write_json)
    meta = read_meta(async_dir, jid) or {}
    raw = meta.get('containment')
    if not isinstance(raw, dict):
        return info
    before = raw.get('final')
    if isinstance(before, dict):
        swept = sorted(set(before.get('swept') or []) | set(info.get('swept') or []))
        if swept == (before.get('swept') or []):
            return before
        info = dict(before, swept=swept)
    try:
        atomic_write_json(meta_path(async_dir, jid),
                          dict(meta, containment=dict(raw, final=info)), durable=False)
    except (IOError, OSError):
        pass  # read again next time
    return info


def wrapper_of(jid, proc='/proc'):
    """A predicate: whether a pid is an async_wrapper process of job ``jid``."""
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
        is_wrapper_cmdline, process_args)
    prefix = jid_prefix(jid)

    def spare(pid):
        try:
            return bool(prefix) and is_wrapper_cmdline(process_args(pid, proc), prefix)
        except (IOError, OSError):
            return False
    return spare


def _absent(alias, jid, path):
    return dict(started=False, finished=False, killed=False, pid_missing=False, state=ABSENT,
                ansible_job_id=jid, ansible_job_alias=alias, results_file=path)


def summary(status):
    return dict((k, status[k]) for k in SUMMARY_KEYS if k in status)


def job_statuses(async_dir, refs, liveness_for=liveness_snapshot):
    """The status of each job of ``refs`` (job_refs), in order, as ``job_status`` gives it
    (by jid when the ref has one, else by name), with one scan of the process table for all.
    A JobError names the entry it is about."""
    # Imported here: a status poll of one job does not load (compile) _shared.jobs_input.
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import ref_jid
    from ansible_collections.asyncjobs.named.plugins.module_utils._shared.jobs_input import ref_name
    jids = [None] * len(refs)
    try:
        for i, ref in enumerate(refs):
            jids[i] = ref_jid(async_dir, ref)
        liveness = liveness_for([j for j in jids if j])
        statuses = []
        for i, ref in enumerate(refs):
            if 'jid' in ref:
                status = job_status(async_dir, jid=ref['jid'], liveness=liveness)
                if 'alias' in ref:
                    status['ansible_job_alias'] = ref['alias']
            else:
                status = job_status(async_dir, alias=ref['alias'], liveness=liveness)
            statuses.append(status)
    except JobError as e:
        raise JobError('%s: %s' % (ref_name(i, refs[i]), e.msg), **e.result)
    return statuses
