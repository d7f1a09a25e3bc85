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
import re
import shlex
import signal
import stat
import subprocess
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._async_jobs import (
    ABSENT, KILLED, RUNNING, JobError, alias_path, find_alias, is_wrapper_cmdline, jid_prefix,
    ps_env, job_path, job_status, read_job, wrapper_liveness, liveness_snapshot, JID_RE,
    _legacy_alias_links, ref_name, require_async_dir, validate,
    inside_dir, link_target, _read_small, _async_dir_names)
from ansible_collections.asyncjobs.named.plugins.module_utils._async_changes import (
    atomic_write_json, links_to, set_alias, _remove)

# Environment variable carrying a claim's token into the job's processes, so a
# job started by a controller that died before naming it can still be found.
CLAIM_ENV = 'ASYNCJOBS_NAMED_CLAIM'
# Environment variable carrying the async_wrapper command line that a one-step start
# (async_claim mode=start) runs; set by the controller, never passed on to the job.
WRAPPER_ENV = '_ASYNCJOBS_NAMED_WRAPPER'
# A claim whose owner has not started and named its job after this many seconds
# is taken over by the next run.
CLAIM_STALE_AFTER = 60.0
# How often the file is read while waiting on the host, and how often liveness
# (a scan of the process table) is checked.
POLL_INTERVAL = 0.2
LIVENESS_INTERVAL = 1.0
# A one-step start waits this long for the lock of a name that another run holds.
LOCK_TIMEOUT = 120.0
# How long a started job's file is waited for while its wrapper's processes live.
JOB_FILE_TIMEOUT = 30.0
JID_PREFIX_RE = re.compile(r'^j?[0-9]+\Z')

WAIT_ARGUMENT_SPEC = dict(
    jid=dict(type='str'),
    alias=dict(type='str'),
    job=dict(type='raw'),
    jobs=dict(type='raw'),
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


def wait_for_all(async_dir, jids, seconds, liveness_for=liveness_snapshot, clock=time.time,
                 sleep=time.sleep, interval=POLL_INTERVAL, liveness_interval=LIVENESS_INTERVAL):
    """Wait up to ``seconds`` for every job of ``jids`` to leave the running state.

    As ``wait_for``, for several jobs at once: their files are read every ``interval``
    seconds, and the liveness of those still running is checked every
    ``liveness_interval`` with one scan of the process table for all of them. Returns
    their statuses, in the order of ``jids``.
    """
    start = clock()
    deadline = start + max(0.0, seconds)
    liveness = liveness_for(jids)
    statuses = [job_status(async_dir, jid=jid, liveness=liveness) for jid in jids]
    checked = clock()
    while True:
        running = [i for i, status in enumerate(statuses) if status['state'] == RUNNING]
        now = clock()
        if not running or now >= deadline:
            break
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
    and changes of a name's claim are atomic across processes on this host.

    With ``timeout`` (seconds) it gives up with a JobError when another process holds
    the lock that long; without, it waits as long as it takes.
    """

    def __init__(self, async_dir, alias, timeout=None, clock=time.time, sleep=time.sleep):
        self.path = os.path.join(async_dir, '.jid_%s.lock' % alias)
        self.async_dir = async_dir
        self.alias = alias
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.fd = None

    def __enter__(self):
        if not os.path.isdir(self.async_dir):
            try:
                os.makedirs(self.async_dir, 0o700)
            except OSError as e:
                if e.errno != errno.EEXIST:
                    raise
        # Not inherited by children (the job's processes must not hold the lock).
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o600)
        try:
            if self.timeout is None:
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            else:
                self._lock_within(self.timeout)
        except BaseException:
            os.close(self.fd)
            raise
        return self

    def _lock_within(self, timeout):
        deadline = self.clock() + timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except (IOError, OSError) as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if self.clock() >= deadline:
                raise JobError('another run has held the lock of the name %r (%s) for %d s; '
                               'try again later' % (self.alias, self.path, timeout),
                               ansible_job_alias=self.alias)
            self.sleep(0.05)

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


def _drop_claim(async_dir, alias):
    try:
        os.unlink(claim_path(async_dir, alias))
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


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


def job_of_prefix(async_dir, prefix):
    """The jid of the job file in ``async_dir`` whose id starts with the async_wrapper jid
    prefix ``prefix`` (``j123`` of ``j123.4242``), or None."""
    for name in sorted(_async_dir_names(async_dir)):
        if name.startswith(prefix + '.') and JID_RE.match(name):
            return name
    return None


def await_job_of_prefix(async_dir, prefix, proc='/proc', clock=time.time, sleep=time.sleep,
                        timeout=JOB_FILE_TIMEOUT):
    """The jid of the job that async_wrapper started with ``prefix``, once its job file
    exists. Its runner writes the file right after it starts; while a process of the
    wrapper lives the file is waited for, up to ``timeout`` seconds. None when there is
    no file and no process of that wrapper (nothing was started, or it died at once)."""
    deadline = clock() + timeout
    while True:
        jid = job_of_prefix(async_dir, prefix)
        if jid or clock() >= deadline:
            return jid
        alive, _pids, _why = prefix_liveness(prefix, proc)
        if alive is False:
            return job_of_prefix(async_dir, prefix)  # it may have written it meanwhile
        sleep(0.05)


def prefix_liveness(prefix, proc='/proc'):
    """Whether an async_wrapper process for the jid prefix ``prefix`` is alive, as
    wrapper_liveness answers it for a jid."""
    return wrapper_liveness(prefix + '.0', proc)


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


def _claimed_job(async_dir, claim, proc, clock, sleep):
    """The job that another run's claim was for, if it exists.

    A claim written by a one-step start carries the jid prefix of the async_wrapper it
    was about to run: its job file is found by that prefix, even when the job has
    finished since. An older claim (a start in several steps) is found by its token in
    the environment of the job's processes, so only while the job runs."""
    prefix = claim.get('jid_prefix')
    if isinstance(prefix, str) and prefix:
        return await_job_of_prefix(async_dir, prefix, proc, clock=clock, sleep=sleep)
    return find_claimed_job(async_dir, claim['token'], proc)


def _decide(async_dir, alias, token, waiting, check_mode, liveness, clock, sleep, proc,
            stale_after):
    """What to do with ``alias``; the caller holds the name's lock (except in check mode).

    A claim of another run that is found while holding the lock is dead when it was
    written by a one-step start (its writer held the lock for the claim's whole life): its
    job is named and attached to, or, when nothing was started, the claim is dropped. A
    claim of a start in several steps (whose writer does not hold the lock in between)
    is waited for until it is ``stale_after`` seconds old.
    """
    claim = read_claim(async_dir, alias)
    if claim and claim['token'] != token:
        jid = _claimed_job(async_dir, claim, proc, clock, sleep)
        if jid:
            if not check_mode:
                set_alias(async_dir, alias, jid, force=True, liveness=liveness)
                _drop_claim(async_dir, alias)
            status = job_status(async_dir, jid=jid, liveness=liveness)
            return dict(action='attach', ansible_job_id=jid, status=status,
                        recovered_claim=True)
        if not claim.get('jid_prefix'):
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
    return dict(action='start', status=status)


def _claim(async_dir, alias, token, clock, **extra):
    """Free the name and claim it with ``token`` (under the name's lock)."""
    _free_name(async_dir, alias)
    atomic_write_json(claim_path(async_dir, alias),
                      dict(token=token, time=clock(), pid=os.getpid(), **extra))


def prepare(async_dir, alias, token, waiting, check_mode=False, liveness=wrapper_liveness,
            clock=time.time, proc='/proc', stale_after=CLAIM_STALE_AFTER, sleep=time.sleep):
    """Decide, under the name's lock, what async_task does with ``alias`` when it starts
    the job in several steps (prepare, start, ``bind``).

    Returns a dict with ``action``: ``attach`` (with ``ansible_job_id``; the name's
    job is running, or finished and ``waiting`` so its outcome is returned),
    ``start`` (the name is now claimed with ``token``: start the job, then
    ``bind``), or ``claimed`` (another run holds a fresh claim: ask again soon),
    and ``status``: the status of the job found under the name.
    """
    # Check mode only reads: no lock file, no async dir created.
    with (_nolock() if check_mode else alias_lock(async_dir, alias)):
        found = _decide(async_dir, alias, token, waiting, check_mode, liveness, clock, sleep,
                        proc, stale_after)
        if found['action'] == 'start' and not check_mode:
            _claim(async_dir, alias, token, clock)
        return found


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
            _drop_claim(async_dir, alias)
        return dict(bound=True, ansible_job_id=jid, ansible_job_alias=alias,
                    alias_file=result['alias_file'])


def abandon(async_dir, alias, token):
    """Drop our claim on ``alias`` (the job could not be started)."""
    with alias_lock(async_dir, alias):
        claim = read_claim(async_dir, alias)
        if claim and claim['token'] == token:
            _drop_claim(async_dir, alias)
            return dict(abandoned=True)
    return dict(abandoned=False)


# --------------------------------------------------------------------------
# One-step start: decide, claim, run async_wrapper and name the job in one process

def wrapper_jid_prefix(wrapper_cmd):
    """The jid prefix in an async_wrapper command line: the argument that follows the
    one ending in ``async_wrapper.py`` (ansible-core 2.9 to 2.21). JobError otherwise."""
    try:
        args = shlex.split(wrapper_cmd)
    except ValueError as e:
        raise JobError('cannot read the async_wrapper command %r: %s' % (wrapper_cmd, e))
    for i, arg in enumerate(args[:-1]):
        if arg.endswith('async_wrapper.py') and JID_PREFIX_RE.match(args[i + 1]):
            return args[i + 1]
    raise JobError('%r is not an async_wrapper command (no job id prefix after '
                   'async_wrapper.py)' % (wrapper_cmd,))


def _reply(out):
    """The JSON object that async_wrapper printed (a line starting with '{'), or None."""
    for line in out.splitlines():
        line = line.strip()
        if line.startswith('{'):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return None


def run_wrapper(wrapper_cmd, env=None):
    """Run the async_wrapper command line in /bin/sh as Ansible would; return its reply.

    The launcher prints one JSON line and exits once the job runs; the job's processes
    detach (new session, standard streams on /dev/null), so this returns at once.
    """
    proc = subprocess.Popen(['/bin/sh', '-c', wrapper_cmd], stdin=_devnull(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                            env=env)
    out, err = proc.communicate()
    out = out.decode('utf-8', 'replace')
    err = err.decode('utf-8', 'replace')
    reply = _reply(out)
    if reply is None:
        reply = dict(failed=True, rc=proc.returncode,
                     msg='async_wrapper did not start the job (rc %s): %s'
                     % (proc.returncode, (err or out).strip() or 'no output'))
    return reply


def _devnull():
    return open(os.devnull, 'rb')


def start(async_dir, alias, token, waiting, wrapper_cmd, run=run_wrapper,
          liveness=wrapper_liveness, clock=time.time, sleep=time.sleep, proc='/proc',
          stale_after=CLAIM_STALE_AFTER, lock_timeout=LOCK_TIMEOUT, hold=0.0):
    """Attach to the job named ``alias``, or start it with ``wrapper_cmd`` and name it,
    all under the name's lock.

    The claim written before the start carries the wrapper's jid prefix: if this process
    dies before naming the job, the next run finds the job by it (``_decide``). Another
    run's claim from a start in several steps is waited for, up to ``hold`` seconds.

    Returns ``action`` (``attach``, ``start``, ``failed``: async_wrapper refused, or
    ``claimed``: another run still holds a fresh claim), ``status`` (of the job found,
    for ``attach``), ``ansible_job_id`` and, for ``start`` and ``failed``, ``reply``
    (what async_wrapper printed).
    """
    prefix = wrapper_jid_prefix(wrapper_cmd)
    deadline = clock() + max(0.0, hold)
    while True:
        with alias_lock(async_dir, alias, timeout=lock_timeout, clock=clock, sleep=sleep):
            found = _decide(async_dir, alias, token, waiting, False, liveness, clock, sleep,
                            proc, stale_after)
            if found['action'] == 'start':
                return _start_locked(async_dir, alias, token, wrapper_cmd, prefix, run,
                                     liveness, clock, sleep, proc)
            if found['action'] != 'claimed' or clock() >= deadline:
                return found
        sleep(0.2)


def _start_locked(async_dir, alias, token, wrapper_cmd, prefix, run, liveness, clock, sleep,
                  proc):
    _claim(async_dir, alias, token, clock, jid_prefix=prefix)
    try:
        reply = run(wrapper_cmd)
        jid = reply.get('ansible_job_id') if not reply.get('failed') else None
        if jid is not None and (not isinstance(jid, str) or not JID_RE.match(jid)
                                or not jid.startswith(prefix + '.')):
            reply = dict(reply, failed=True,
                         msg='async_wrapper returned an unexpected job id %r' % (jid,))
            jid = None
        if jid is not None and await_job_of_prefix(async_dir, prefix, proc, clock=clock,
                                                   sleep=sleep) != jid:
            reply = dict(reply, failed=True,
                         msg='async_wrapper started job %s, but its processes ended without '
                         'writing its job file %s' % (jid, job_path(async_dir, jid)))
            jid = None
    except BaseException:
        # Whatever happened, a job of this prefix is named if it exists.
        jid = job_of_prefix(async_dir, prefix)
        if jid is None:
            _drop_claim(async_dir, alias)
        raise
    if jid is None:
        _drop_claim(async_dir, alias)
        return dict(action='failed', reply=reply, status=None)
    set_alias(async_dir, alias, jid, force=True, liveness=liveness)
    _drop_claim(async_dir, alias)
    return dict(action='start', ansible_job_id=jid, reply=reply, status=None)


def remove_job_tmpdir(tmpdir, wrapper_cmd):
    """Remove the remote tmp dir that Ansible made for a job that was not started.

    Only the dir that holds the command's async_wrapper.py, named ``ansible-tmp-*`` like
    every remote tmp dir of Ansible, is removed; anything else is a JobError.
    """
    tmpdir = os.path.normpath(tmpdir)
    wrapper = [a for a in shlex.split(wrapper_cmd) if a.endswith('async_wrapper.py')]
    if (not os.path.isabs(tmpdir) or not os.path.basename(tmpdir).startswith('ansible-tmp-')
            or not wrapper or os.path.dirname(os.path.normpath(wrapper[0])) != tmpdir):
        raise JobError('refusing to remove %s: it is not the remote tmp dir of the '
                       'async_wrapper command' % tmpdir)
    if os.path.islink(tmpdir):
        raise JobError('refusing to remove %s: it is a symlink' % tmpdir)
    import shutil  # here: the common path of a start (which starts the job) never needs it
    shutil.rmtree(tmpdir, ignore_errors=True)
    return not os.path.lexists(tmpdir)


def make_executable(tmpdir, paths):
    """``chmod u+rwx`` on ``paths``, each ``tmpdir`` itself or inside it, as Ansible's
    permission fix-up does when no unprivileged become user needs access."""
    tmpdir = os.path.normpath(tmpdir)
    for path in paths:
        path = os.path.normpath(path)
        if path != tmpdir and os.path.dirname(path) != tmpdir:
            raise JobError('refusing to change the mode of %s: it is not in the remote tmp '
                           'dir %s' % (path, tmpdir))
        st = os.lstat(path)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(path, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)


def start_named_job(async_dir, alias, token, waiting, wrapper_cmd, wait=0.0, cleanup=True,
                    tmpdir=None, remove_tmp=False, chmod=(), env=None, hold=0.0,
                    liveness=wrapper_liveness, clock=time.time, sleep=time.sleep, proc='/proc',
                    lock_timeout=LOCK_TIMEOUT):
    """The host side of async_task's one-step start (async_claim mode=start).

    Makes the job's files executable (``chmod``), attaches to the job named ``alias`` or
    starts ``wrapper_cmd`` and names the job (``start``), removes the job's tmp dir when
    nothing was started (``remove_tmp``), then returns the job's status; when the caller
    waits (``waiting``), after waiting up to ``wait`` seconds for it, and with its names
    freed (``cleanup``) once it is done. The result is ``start``'s plus ``status``
    (``released`` in it when waiting) and ``tmpdir_removed``.
    """
    if chmod:
        make_executable(tmpdir, chmod)
    found = start(async_dir, alias, token, waiting, wrapper_cmd,
                  run=lambda cmd: run_wrapper(cmd, env), liveness=liveness, clock=clock,
                  sleep=sleep, proc=proc, lock_timeout=lock_timeout, hold=hold)
    found['tmpdir_removed'] = False
    if found['action'] != 'start' and remove_tmp and tmpdir:
        found['tmpdir_removed'] = remove_job_tmpdir(tmpdir, wrapper_cmd)
    if found['action'] not in ('start', 'attach'):
        return found
    jid = found['ansible_job_id']
    if waiting:
        status = wait_for(async_dir, jid, wait, liveness=liveness, clock=clock, sleep=sleep)
        status['released'] = []
        if cleanup and status['state'] != RUNNING:
            status['released'] = release(async_dir, jid, alias)
    elif found['action'] == 'attach':
        status = found['status']
    else:
        status = job_status(async_dir, jid=jid, liveness=liveness)
    status['ansible_job_alias'] = alias
    found['status'] = status
    return found


def start_main(args, environ=None):
    """The start runner's entry point (see plugins/plugin_utils/_start.py): the one-step
    start with ``args`` (alias, token, waiting, wait, cleanup, tmpdir, remove_tmp, chmod,
    hold, _async_dir) and the async_wrapper command line from the environment variable
    WRAPPER_ENV, which the job does not get. Returns the result, failed with a message
    for bad input."""
    env = dict(os.environ if environ is None else environ)
    wrapper_cmd = env.pop(WRAPPER_ENV, None)
    try:
        if not wrapper_cmd:
            raise JobError('the start runner needs the async_wrapper command line in %s'
                           % WRAPPER_ENV)
        validate(alias=args['alias'])
        result = start_named_job(
            require_async_dir(args), args['alias'], args['token'], args['waiting'], wrapper_cmd,
            wait=args.get('wait', 0.0), cleanup=args.get('cleanup', True),
            tmpdir=args.get('tmpdir'), remove_tmp=args.get('remove_tmp', False),
            chmod=args.get('chmod', ()), env=env, hold=args.get('hold', 0.0))
    except JobError as e:
        return dict(e.result, failed=True, msg=e.msg)
    result['changed'] = result['action'] == 'start'
    return result
