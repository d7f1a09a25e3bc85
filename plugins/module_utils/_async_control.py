# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for, killing and claiming named async jobs (private; runs on the target).

Python 3.6 compatible, like the rest of the target-side code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import signal
import subprocess
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._async_jobs import (
    ABSENT, KILLED, RUNNING, JobError, alias_path, find_alias, is_wrapper_cmdline, jid_prefix,
    ps_env, job_path, job_status, read_job, wrapper_liveness, JID_RE, _legacy_alias_links,
    inside_dir, link_target, _read_small)
from ansible_collections.asyncjobs.named.plugins.module_utils._async_changes import (
    atomic_write_json, links_to, set_alias, _remove)

# Environment variable carrying a claim's token into the job's processes, so a
# job started by a controller that died before naming it can still be found.
CLAIM_ENV = 'ASYNCJOBS_NAMED_CLAIM'
# A claim whose owner has not started and named its job after this many seconds
# is taken over by the next run.
CLAIM_STALE_AFTER = 60.0
# How often the file is read while waiting on the host, and how often liveness
# (a scan of the process table) is checked.
POLL_INTERVAL = 0.2
LIVENESS_INTERVAL = 1.0

WAIT_ARGUMENT_SPEC = dict(
    jid=dict(type='str'),
    alias=dict(type='str'),
    job=dict(type='raw'),
    timeout=dict(type='float'),
    retries=dict(type='int'),
    delay=dict(type='float', default=5.0),
    cleanup=dict(type='bool', default=True),
)
KILL_ARGUMENT_SPEC = dict(
    jid=dict(type='str'),
    alias=dict(type='str'),
    signal=dict(type='str', default='TERM'),
    grace=dict(type='float', default=5.0),
)
ONE_JOB = dict(mutually_exclusive=[('jid', 'alias')], required_one_of=[('jid', 'alias')])


# --------------------------------------------------------------------------
# Waiting on the host

def resolve(async_dir, jid=None, alias=None):
    """The jid of the job given by jid or alias; JobError when there is none."""
    if jid is not None:
        if not os.path.exists(job_path(async_dir, jid)):
            raise JobError('could not find job', ansible_job_id=jid, started=True, finished=True)
        return jid
    _link, path = find_alias(async_dir, alias)
    if path is None or not os.path.exists(path):
        raise JobError('no job named %r in %s' % (alias, async_dir), ansible_job_alias=alias,
                       started=False, finished=False, state=ABSENT)
    return os.path.basename(path)


def wait_for(async_dir, jid, seconds, liveness=wrapper_liveness, clock=time.time,
             sleep=time.sleep, interval=POLL_INTERVAL, liveness_interval=LIVENESS_INTERVAL):
    """Wait up to ``seconds`` for job ``jid`` to leave the running state.

    The job file is read every ``interval`` seconds (cheap); the full status with
    the wrapper liveness check every ``liveness_interval``. Returns the status.
    """
    start = clock()
    deadline = start + max(0.0, seconds)
    status = job_status(async_dir, jid=jid, liveness=liveness)
    checked = clock()
    path = job_path(async_dir, jid)
    while status['state'] == RUNNING:
        now = clock()
        if now >= deadline:
            break
        sleep(min(interval, deadline - now))
        job = read_job(path)
        if not job.exists or job.finished or clock() - checked >= liveness_interval:
            status = job_status(async_dir, jid=jid, liveness=liveness)
            checked = clock()
    status['waited'] = round(clock() - start, 3)
    return status


def release(async_dir, jid, alias=None):
    """Free the names of a finished job whose outcome has been returned.

    By alias: that name, only while it still points to ``jid`` (another run may
    have given it to a new job meanwhile). Without one: every name of the job.
    The job file stays. Returns the removed links.
    """
    path = os.path.normpath(job_path(async_dir, jid))
    with alias_lock(async_dir, alias) if alias else _nolock():
        if alias is not None:
            # The name in both forms, each only while it still points to this job.
            links = [link for link in [alias_path(async_dir, alias)]
                     + _legacy_alias_links(async_dir, alias)
                     if _names(async_dir, link, jid)]
        else:
            links = links_to(async_dir, path)
        for link in links:
            _remove(async_dir, link, check_mode=False)
    return links


def _names(async_dir, link, jid):
    """True when ``link`` is a link to job ``jid``'s file in the async dir."""
    target = link_target(async_dir, link)
    return (target is not None and os.path.basename(target) == jid
            and inside_dir(async_dir, target))


class _nolock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --------------------------------------------------------------------------
# Processes

def process_table(proc='/proc'):
    """Every process as a dict with pid, ppid, pgid, state and args.

    Read from /proc on Linux; ``ps`` elsewhere.
    """
    if not os.path.isdir(os.path.join(proc, 'self')):
        out = subprocess.check_output(['ps', '-A', '-o', 'pid=', '-o', 'ppid=', '-o', 'pgid=',
                                       '-o', 'state=', '-o', 'args='], env=ps_env())
        table = []
        for line in out.decode('utf-8', 'replace').splitlines():
            f = line.split()
            if len(f) >= 4 and f[0].isdigit():
                table.append(dict(pid=int(f[0]), ppid=int(f[1]), pgid=int(f[2]), state=f[3][:1],
                                  args=f[4:]))
        return table
    table = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(proc, name, 'stat'), 'rb') as f:
                stat = f.read().decode('utf-8', 'replace')
            with open(os.path.join(proc, name, 'cmdline'), 'rb') as f:
                args = f.read().decode('utf-8', 'replace').split('\0')
        except (IOError, OSError):
            continue
        fields = stat[stat.rfind(')') + 2:].split()
        table.append(dict(pid=int(name), state=fields[0], ppid=int(fields[1]),
                          pgid=int(fields[2]), args=[a for a in args if a]))
    return table


def job_processes(jid, table, known=(), groups=()):
    """The processes of a job: its async_wrapper processes (watcher, runner), every
    process in the runner's process group, and every descendant of either.

    Once the wrapper processes are gone nothing in the table ties the job's other
    processes to it any more, so the pids (``known``) and process groups (``groups``)
    found before are included too, while they live.
    """
    prefix = jid_prefix(jid)
    wrappers = set(p['pid'] for p in table if is_wrapper_cmdline(p['args'], prefix))
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


def kill(async_dir, jid, sig='TERM', grace=5.0, check_mode=False, liveness=wrapper_liveness,
         proc='/proc', sleep=time.sleep, clock=time.time):
    """Stop a running job's processes and mark its file killed.

    The watcher is stopped first (so it cannot report a timeout meanwhile), then the
    job's processes get ``sig``; those still alive after ``grace`` seconds get SIGKILL.
    A job that finished meanwhile keeps its real result. Returns the status plus
    ``changed``, ``pids`` (the processes signalled) and ``signal``.
    """
    number = signal_number(sig)
    status = job_status(async_dir, jid=jid, liveness=liveness)
    result = dict(status, changed=False, pids=[], signal=signal_name(number))
    if status['state'] != RUNNING:
        return result
    table = process_table(proc)
    pids = job_processes(jid, table)
    result.update(changed=True, pids=pids)
    if check_mode:
        return result
    # Remembered: the wrappers die first, and a process that ignores the signal (or got
    # none yet) must still be found for the SIGKILL after the grace.
    groups = set(p['pgid'] for p in table if p['pid'] in pids and p['pgid'] == p['pid'])
    prefix = jid_prefix(jid)
    watchers = [p['pid'] for p in table
                if p['pid'] in pids and is_wrapper_cmdline(p['args'], prefix)
                and p['pgid'] != p['pid']]
    _send(watchers, signal.SIGKILL)
    _send([p for p in pids if p not in watchers], number)
    deadline = clock() + max(0.0, grace)
    left = pids
    while True:
        left = job_processes(jid, process_table(proc), known=pids, groups=groups)
        left = [p for p in left if p in pids] + [p for p in left if p not in pids]
        if not left or clock() >= deadline:
            break
        sleep(0.1)
    if left:
        _send(left, signal.SIGKILL)
        for _i in range(50):
            left = job_processes(jid, process_table(proc), known=pids, groups=groups)
            if not left:
                break
            sleep(0.1)
    job = read_job(job_path(async_dir, jid))
    if job.finished:
        # It finished on its own before the signal arrived: keep its real result.
        final = job_status(async_dir, jid=jid, liveness=liveness)
        final.update(changed=True, pids=pids, signal=signal_name(number))
        return final
    msg = 'job %s was killed by asyncjobs.named.async_kill with %s' % (jid, signal_name(number))
    if left:
        msg += '; processes %s did not exit even after SIGKILL' % left
    data = dict(started=True, finished=True, failed=True, killed=True, ansible_job_id=jid,
                msg=msg, signal=signal_name(number))
    atomic_write_json(job_path(async_dir, jid), data)
    final = job_status(async_dir, jid=jid, liveness=liveness)
    final.update(changed=True, pids=pids, signal=signal_name(number))
    return final


# --------------------------------------------------------------------------
# Claims: exactly-once start of a named job

class alias_lock:
    """An exclusive flock on ``.jid_<alias>.lock`` in the async dir, so the checks
    and changes of a name's claim are atomic across processes on this host."""

    def __init__(self, async_dir, alias):
        self.path = os.path.join(async_dir, '.jid_%s.lock' % alias)
        self.async_dir = async_dir
        self.fd = None

    def __enter__(self):
        if not os.path.isdir(self.async_dir):
            try:
                os.makedirs(self.async_dir, 0o700)
            except OSError as e:
                if e.errno != errno.EEXIST:
                    raise
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock
        return False


def claim_path(async_dir, alias):
    return os.path.join(async_dir, '.jid_%s.claim' % alias)


def read_claim(async_dir, alias):
    try:
        with open(claim_path(async_dir, alias)) as f:
            claim = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    return claim if isinstance(claim, dict) and 'token' in claim else None


def find_claimed_job(async_dir, token, proc='/proc'):
    """The jid of a running job whose processes carry claim ``token`` in their
    environment (a job started by a controller that died before naming it)."""
    needle = ('%s=%s' % (CLAIM_ENV, token)).encode()
    for p in process_table(proc):
        args = p['args']
        for i, arg in enumerate(args[:-1]):
            if arg.endswith('async_wrapper.py'):
                prefix = args[i + 1]
                break
        else:
            continue
        try:
            env = _read_small(os.path.join(proc, str(p['pid']), 'environ')).split(b'\0')
        except (IOError, OSError):
            continue
        if needle in env:
            for name in sorted(os.listdir(async_dir)):
                if name.startswith(prefix + '.') and JID_RE.match(name):
                    return name
    return None


def _free_name(async_dir, alias):
    """Drop the name: ``jid_<alias>`` and any link of the older form ``<jid>.jid_<alias>``,
    which would otherwise name the old job again once the new job's name is released."""
    for link in [alias_path(async_dir, alias)] + _legacy_alias_links(async_dir, alias):
        if os.path.islink(link):
            try:
                os.unlink(link)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise


def prepare(async_dir, alias, token, waiting, check_mode=False, liveness=wrapper_liveness,
            clock=time.time, proc='/proc', stale_after=CLAIM_STALE_AFTER):
    """Decide, under the name's lock, what async_task does with ``alias``.

    Returns a dict with ``action``: ``attach`` (with ``ansible_job_id``; the name's
    job is running, or finished and ``waiting`` so its outcome is returned),
    ``start`` (the name is now claimed with ``token``: start the job, then
    ``bind``), or ``claimed`` (another run holds a fresh claim: ask again soon),
    and ``status``: the status of the job found under the name.
    """
    # Check mode only reads: no lock file, no async dir created.
    with (_nolock() if check_mode else alias_lock(async_dir, alias)):
        claim = read_claim(async_dir, alias)
        if claim and claim['token'] != token:
            jid = find_claimed_job(async_dir, claim['token'], proc)
            if jid:
                if not check_mode:
                    set_alias(async_dir, alias, jid, force=True, liveness=liveness)
                    os.unlink(claim_path(async_dir, alias))
                status = job_status(async_dir, jid=jid, liveness=liveness)
                return dict(action='attach', ansible_job_id=jid, status=status,
                            recovered_claim=True)
            try:
                age = clock() - float(claim.get('time'))
            except (TypeError, ValueError):
                age = stale_after  # a claim with no readable time is taken over
            if age < stale_after:
                return dict(action='claimed', status=None, claim_age=round(age, 1))
        status = job_status(async_dir, alias=alias, liveness=liveness)
        state = status['state']
        if state == RUNNING or (waiting and state not in (ABSENT, KILLED)):
            return dict(action='attach', ansible_job_id=status['ansible_job_id'], status=status)
        if not check_mode:
            _free_name(async_dir, alias)
            atomic_write_json(claim_path(async_dir, alias),
                              dict(token=token, time=clock(), pid=os.getpid()))
        return dict(action='start', status=status)


def bind(async_dir, alias, token, jid, liveness=wrapper_liveness):
    """Name the job just started under our claim, and drop the claim.

    If another run took the claim over meanwhile (ours went stale), the name is
    left to it and ``bound`` is false.
    """
    with alias_lock(async_dir, alias):
        claim = read_claim(async_dir, alias)
        if claim and claim['token'] != token:
            return dict(bound=False, ansible_job_id=jid, ansible_job_alias=alias)
        result = set_alias(async_dir, alias, jid, force=True, liveness=liveness)
        if claim:
            os.unlink(claim_path(async_dir, alias))
        return dict(bound=True, ansible_job_id=jid, ansible_job_alias=alias,
                    alias_file=result['alias_file'])


def abandon(async_dir, alias, token):
    """Drop our claim on ``alias`` (the job could not be started)."""
    with alias_lock(async_dir, alias):
        claim = read_claim(async_dir, alias)
        if claim and claim['token'] == token:
            os.unlink(claim_path(async_dir, alias))
            return dict(abandoned=True)
    return dict(abandoned=False)
