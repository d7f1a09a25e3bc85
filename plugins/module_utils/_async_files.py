# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Job files and job states of asyncjobs.named: reading a job file, and the status of a
job by jid or by name, liveness included.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os

from ansible_collections.asyncjobs.named.plugins.module_utils._async_names import (
    JobError, find_alias, job_path)

from ansible_collections.asyncjobs.named.plugins.module_utils._async_procs import (
    wrapper_liveness)

# Job states, as documented in the modules and the README.
ABSENT = 'absent'
RUNNING = 'running'
SUCCEEDED = 'succeeded'
FAILED = 'failed'
TIMED_OUT = 'timed_out'
KILLED = 'killed'
ORPHANED = 'orphaned'
STATES = (ABSENT, RUNNING, SUCCEEDED, FAILED, TIMED_OUT, KILLED, ORPHANED)
FINISHED_STATES = (SUCCEEDED, FAILED, TIMED_OUT, KILLED, ORPHANED)
# What async_wrapper (ansible-core 2.12+) writes when it kills a job at its time limit.
TIMEOUT_MSG = 'Timeout exceeded'
# Keys that every result describes a job with, whatever the mode.
SUMMARY_KEYS = ('started', 'finished', 'killed', 'pid_missing', 'state', 'ansible_job_id',
                'ansible_job_alias', 'results_file')


# --------------------------------------------------------------------------
# Job files

class JobFile:
    """What a job file held when read: ``data`` (dict) or why there is none."""

    def __init__(self, path, exists, data=None, raw=None):
        self.path = path
        self.exists = exists
        self.data = data
        self.raw = raw

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
    return JobFile(path, True, data, raw)


def finished_state(data):
    """State of a finished job from its file's content."""
    if data.get('killed'):
        return KILLED
    if data.get('msg') == TIMEOUT_MSG and data.get('failed'):
        return TIMED_OUT
    if data.get('failed'):
        return FAILED
    return SUCCEEDED


# --------------------------------------------------------------------------
# Status

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
        alive, _pids, warning = liveness(jid, owner_uid=_owner(path))
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
        if job.parsed:
            why = 'its async_wrapper process is gone'
        elif job.raw.strip():
            why = 'its job file is not valid JSON and its async_wrapper process is gone'
        else:
            why = 'its job file is empty and its async_wrapper process is gone'
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


def _absent(alias, jid, path):
    return dict(started=False, finished=False, killed=False, pid_missing=False, state=ABSENT,
                ansible_job_id=jid, ansible_job_alias=alias, results_file=path)


def summary(status):
    return dict((k, status[k]) for k in SUMMARY_KEYS if k in status)
