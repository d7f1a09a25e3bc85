# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keeper of a job: one small process per job that async_task starts, which runs
async_wrapper for it and then stays until nothing of the job is left.

* It is a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``): a process of the job whose
  parent exits (a daemon's double fork, async_wrapper's own daemonizing) is re-parented to
  the keeper, not to PID 1. So the keeper's descendants are the job's processes, whatever
  they do to their cgroup, environment, session or process group: a third way to find them
  (``containment.descendants``), which nothing the job does on its own can leave.
* It sleeps in ``waitpid``: it wakes only when one of those processes ends. When the job's
  file says the job has ended, it reads the job's status once (``job_status``): for a job
  stopped at its ``async:`` time limit that kills what async_wrapper's kill of the process
  group missed (``swept``), at the limit rather than at the next status read.
* When the last of them has ended, it reads the status again: the job's figures are
  recorded in its meta file and its cgroup removed, whether anybody reads the job or not.

Where the kernel or the Python has no ``prctl`` (no ctypes), the keeper still looks at the
job's file every ``POLL_EVERY`` seconds until the job ends, and reads its status then.

Private to the collection. Runs on the target: Python 3.6 compatible.
"""

import json
import os
import sys
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._host import containment
from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import read_to_end

PR_SET_CHILD_SUBREAPER = 36
POLL_EVERY = 5.0


class KeeperError(Exception):
    pass


def become_subreaper():
    """Make this process a child subreaper (Linux 3.4+). False where it cannot."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except Exception:  # pylint: disable=broad-except
        return False  # no ctypes, no libc, no prctl: the keeper polls instead


def _detach(keep):
    """The keeper's standard streams on /dev/null and every other inherited file closed but
    ``keep``: the caller's output (an SSH channel that stays open while any process holds
    it) and its locks (a flock lives while any copy of its file is open) are not held."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        if fd != null:
            os.dup2(null, fd)
    last = 3
    for fd in sorted(set(keep) | set([null])) + [65536]:
        if fd >= last:
            os.closerange(last, fd)
            last = fd + 1
    if null > 2:
        os.close(null)


def _send(fd, data):
    raw = json.dumps(data).encode()
    while raw:
        raw = raw[os.write(fd, raw):]


def _receive(fd):
    raw = read_to_end(fd)
    try:
        return json.loads(raw.decode('utf-8', 'replace')) if raw else None
    except ValueError:
        return None


_HELD = []  # the write end of each keeper's "done" pipe, held until this process exits


def launch(run, async_dir, proc='/proc'):
    """Run ``run()`` (it runs async_wrapper and returns (reply, record): the wrapper's reply
    and the job's containment record) in a keeper process forked from this one, and return
    what it returned, the record with ``keeper`` ({pid, start}) when the keeper is a
    subreaper. The keeper then stays with the job (``keep``). The job's meta file is this
    process's to write: the keeper's status reads wait until this process has called
    ``release`` or exited.

    KeeperError when the keeper failed before it could say what became of the start (the
    caller looks for a job of the prefix, as after any failure of the wrapper's run)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, IOError, OSError, ValueError):
            pass
    report_r, report_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(report_r)
            os.close(done_w)
            _detach((report_w, done_r))
            os.setsid()
            subreaper = become_subreaper()
            try:
                reply, record = run()
            except BaseException as e:  # pylint: disable=broad-except
                _send(report_w, dict(error='%s: %s' % (type(e).__name__, e)))
                raise
            if subreaper:
                me = os.getpid()
                record = dict(record, keeper=dict(pid=me, start=containment.start_time(me, proc)))
            _send(report_w, dict(reply=reply, record=record))
            os.close(report_w)
            jid = reply.get('ansible_job_id')
            if not reply.get('failed') and isinstance(jid, str):
                keep(async_dir, jid, record, done_r, subreaper)
        finally:
            os._exit(0)  # pylint: disable=protected-access
    os.close(report_w)
    os.close(done_r)
    _HELD.append(done_w)
    try:
        got = _receive(report_r)
    finally:
        os.close(report_r)
    if not isinstance(got, dict) or 'error' in got or not isinstance(got.get('reply'), dict):
        raise KeeperError('the keeper process of the job (pid %d) failed: %s'
                          % (pid, got.get('error') if isinstance(got, dict)
                             else 'it ended without a word'))
    return got['reply'], got['record']


def release():
    """Tell the keepers that this process started that the job's meta file is written: their
    status reads may begin (they also begin once this process exits)."""
    while _HELD:
        try:
            os.close(_HELD.pop())
        except OSError:
            pass


def _ended(async_dir, jid):
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import (
        read_job)
    from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import job_path
    job = read_job(job_path(async_dir, jid))
    return not job.exists or job.finished


def _read_status(async_dir, jid):
    """A status read of the job (job_status: it sweeps a timed-out job's leftovers, and once
    nothing is left records the job's figures and removes its cgroup). Never raises."""
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import (
        job_status)
    try:
        job_status(async_dir, jid=jid)
        return True
    except Exception:  # pylint: disable=broad-except
        return False  # the job's files removed (cleanup), an unreadable file: nothing to do


def _wait_eof(fd):
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass


def keep(async_dir, jid, record, done_fd, subreaper, sleep=time.sleep):
    """The keeper's life once the job runs: see the module's docstring."""
    read = False
    if subreaper:
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break  # nothing of the job is left
            except OSError:
                break
            if not read and _ended(async_dir, jid):
                _wait_eof(done_fd)
                read = _read_status(async_dir, jid)
    else:
        while not _ended(async_dir, jid):
            sleep(POLL_EVERY)
    _wait_eof(done_fd)
    _read_status(async_dir, jid)
    if _figures_kept(async_dir, jid):
        # Its figures are in its meta file (recorded by this read or an earlier one), or
        # its files are gone (async_task's cleanup, async_cleanup): its cgroup goes, once
        # empty.
        containment.remove(record)


def _figures_kept(async_dir, jid):
    """Whether the job's cgroup can go: its final figures are in its meta file, or the job
    has no meta file any more."""
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import (
        read_meta)
    from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import meta_path
    if not os.path.lexists(meta_path(async_dir, jid)):
        return True
    meta = read_meta(async_dir, jid) or {}
    kept = meta.get('containment')
    return isinstance(kept, dict) and isinstance(kept.get('final'), dict)
