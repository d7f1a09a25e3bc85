# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Claims: the exactly-once start of a named job. Under the name's lock, decide whether
to attach to the job under a name or to start one, and claim the name for the start.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import json
import os
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import async_dir_names
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import (
    JID_RE, MITOGEN_JID_RE, claim_path)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import (
    job_liveness, job_status, read_job)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import (
    ATTACH, DO_ATTACH, DO_REFUSE, DO_RESTART, FAIL, RUNNING, policy_action)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.kill import kill
from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
    process_table, processes, read_small, WRAPPER_MARK, wrapper_liveness)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import (
    alias_lock, atomic_write_json, free_name, nolock, remove_entry, set_alias, write_meta)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import (
    CLAIM_ENV, CLAIM_STALE_AFTER)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.failpoints import failpoint

# How long a start waits for a started job's file while its wrapper's processes live, and
# how long a later run waits for it before it reports the start as still going on. Neither
# decides that the job is dead: only its processes do (await_job_of_prefix).
JOB_FILE_PATIENCE = 30.0
PENDING_PATIENCE = 5.0
# on_running=restart: how long the running job gets after SIGTERM before SIGKILL (as
# async_kill's default grace).
RESTART_GRACE = 5.0


# --------------------------------------------------------------------------
# Claim files

def read_claim(async_dir, alias):
    try:
        with open(claim_path(async_dir, alias)) as f:
            claim = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    return claim if isinstance(claim, dict) and 'token' in claim else None


def drop_claim(async_dir, alias):
    remove_entry(async_dir, claim_path(async_dir, alias), check_mode=False)


# --------------------------------------------------------------------------
# The job a claim was for

def find_claimed_job(async_dir, token, proc='/proc'):
    """The jid of a running job whose processes carry claim ``token`` in their
    environment (a job started by a controller that died before naming it)."""
    needle = ('%s=%s' % (CLAIM_ENV, token)).encode()
    return (_wrapper_job_with(async_dir, needle, proc)
            or _mitogen_job_with(async_dir, needle, proc))


def _carries(pid, needle, proc):
    try:
        return needle in read_small(os.path.join(proc, str(pid), 'environ')).split(b'\0')
    except (IOError, OSError):
        return False


def _mitogen_job_with(async_dir, needle, proc):
    """A running job of Mitogen for Ansible's runner whose process group carries
    ``needle`` in a process's environment. The runner itself, forked and not executed,
    keeps its parent's environment; the commands it runs carry the task's."""
    table = None
    for name in sorted(async_dir_names(async_dir)):
        if not MITOGEN_JID_RE.match(name):
            continue
        job = read_job(os.path.join(async_dir, name))
        if not job.exists or job.finished:
            continue
        alive, pids, _why = job_liveness(name, job, None)
        if not alive:
            continue
        if table is None:
            table = process_table(proc)
        group = [p['pid'] for p in table if p['pgid'] == pids[0]]
        if any(_carries(pid, needle, proc) for pid in group):
            return name
    return None


def _wrapper_job_with(async_dir, needle, proc):
    """A running job of async_wrapper whose wrapper process carries ``needle`` in its
    environment."""
    for p in processes(proc, mark=WRAPPER_MARK)[0]:
        args = p['args']
        for i, arg in enumerate(args[:-1]):
            if arg.endswith('async_wrapper.py'):
                prefix = args[i + 1]
                break
        else:
            continue
        if _carries(p['pid'], needle, proc):
            for name in sorted(os.listdir(async_dir)):
                if name.startswith(prefix + '.') and JID_RE.match(name):
                    return name
    return None


def job_of_prefix(async_dir, prefix):
    """The jid of the job file in ``async_dir`` whose id starts with the async_wrapper jid
    prefix ``prefix`` (``j123`` of ``j123.4242``), or None."""
    for name in sorted(async_dir_names(async_dir)):
        if name.startswith(prefix + '.') and JID_RE.match(name):
            return name
    return None


def await_job_of_prefix(async_dir, prefix, proc='/proc', clock=time.time, sleep=time.sleep,
                        patience=JOB_FILE_PATIENCE):
    """(jid, alive) for the job that async_wrapper started with ``prefix``.

    Its watcher writes the job file right after it starts. While a process of that
    wrapper lives, the file is waited for, up to ``patience`` seconds: how long this
    caller waits, never a verdict on the job. Returns (jid, True) once the file is there;
    (None, False) when there is no file and no process of that wrapper (nothing runs:
    nothing was started, or it died before it wrote its file); (None, True) when the
    wrapper still lives without a file after ``patience``; (None, None) when whether it
    lives cannot be told (the process table is not readable)."""
    deadline = clock() + patience
    while True:
        jid = job_of_prefix(async_dir, prefix)
        if jid:
            return jid, True
        alive, _pids, _why = prefix_liveness(prefix, proc)
        if alive is not True:
            jid = job_of_prefix(async_dir, prefix)  # it may have written it meanwhile
            return (jid, True) if jid else (None, alive)
        if clock() >= deadline:
            return None, True
        sleep(0.05)


def prefix_liveness(prefix, proc='/proc'):
    """Whether an async_wrapper process for the jid prefix ``prefix`` is alive, as
    wrapper_liveness answers it for a jid."""
    return wrapper_liveness(prefix + '.0', proc)


def _claimed_job(async_dir, claim, proc, clock, sleep):
    """(jid, pending) for the job that another run's claim was for.

    ``jid``: the job, if its file exists. ``pending``: no job file yet, but the job may
    still be starting, so the claim must not be taken over (its processes live, or cannot
    be read).

    A claim written by a one-step start carries the jid prefix of the async_wrapper it
    was about to run: its job file is found by that prefix, even when the job has
    finished since; while the wrapper's processes live without a file, the start is
    pending. A start in several steps under Mitogen for Ansible records the job id it will
    have before it starts (``expected_jid``): found by its file, even finished. A claim
    whose start in several steps could not name its job records the job's id (``abandon``
    with ``jid``). Otherwise (a start in several steps whose controller died before naming
    the job) the job is found by the claim's token in the environment of its processes, so
    only while the job runs."""
    for key in ('jid', 'expected_jid'):
        jid = claim.get(key)
        if isinstance(jid, str) and JID_RE.match(jid):
            if os.path.exists(os.path.join(async_dir, jid)):
                return jid, False
            if key == 'jid':
                return None, False
    prefix = claim.get('jid_prefix')
    if isinstance(prefix, str) and prefix:
        jid, alive = await_job_of_prefix(async_dir, prefix, proc, clock=clock, sleep=sleep,
                                         patience=PENDING_PATIENCE)
        return jid, jid is None and alive is not False
    return find_claimed_job(async_dir, claim['token'], proc), False


# --------------------------------------------------------------------------
# Deciding and claiming

def decide(async_dir, alias, token, waiting, check_mode, liveness, clock, sleep, proc,
           stale_after, on_running=ATTACH, on_finished=None):
    """What to do with ``alias``; the caller holds the name's lock (except in check mode).

    A claim of another run that is found while holding the lock is dead when it was
    written by a one-step start (its writer held the lock for the claim's whole life): its
    job is named and attached to, or, when nothing was started, the claim is dropped. A
    claim of a start in several steps (whose writer does not hold the lock in between)
    is waited for until it is ``stale_after`` seconds old.

    The job the name leads to is then dealt with by the job policies (``on_running``,
    ``on_finished``; ``_shared.job_model.policy_action``): ``action`` is ``attach``,
    ``start``, ``refused`` (the policy says fail: nothing is started) or ``restart`` (kill
    the running job, then start; the caller does both, still under the lock). A job whose
    claim is recovered here is attached to when it has finished and ``on_finished`` is not
    set, whether the task waits or not: its run died before anyone saw its outcome.
    """
    claim = read_claim(async_dir, alias)
    recovered = False
    if claim and claim['token'] != token:
        jid, pending = _claimed_job(async_dir, claim, proc, clock, sleep)
        if jid:
            if not check_mode:
                set_alias(async_dir, alias, jid, force=True, liveness=liveness)
                drop_claim(async_dir, alias)
            recovered = True
        else:
            try:
                age = clock() - float(claim.get('time'))
            except (TypeError, ValueError):
                age = stale_after  # a claim with no readable time is taken over
            busy = None
            if pending:
                # A one-step start's async_wrapper still runs (or may) without its job file:
                # never start a second job beside it, however old the claim.
                busy = dict(action='claimed', status=None, claim_age=round(age, 1),
                            pending_prefix=claim.get('jid_prefix'))
            elif not claim.get('jid_prefix') and not claim.get('jid') and age < stale_after:
                busy = dict(action='claimed', status=None, claim_age=round(age, 1))
            if busy is not None:
                if on_running == FAIL:
                    return dict(busy, action=DO_REFUSE, ansible_job_id=None, msg=(
                        'another run is starting the job named %r (its claim is %s s old) and '
                        'on_running=fail: nothing was started. Once it runs, async_wait '
                        '(alias=%s) waits for it; on_running=attach attaches to it'
                        % (alias, busy['claim_age'], alias)))
                return busy
    if recovered:
        status = job_status(async_dir, jid=jid, liveness=liveness)
    else:
        status = job_status(async_dir, alias=alias, liveness=liveness)
    state = status['state']
    if recovered and on_finished is None and state != RUNNING:
        todo = DO_ATTACH
    else:
        todo = policy_action(state, waiting, on_running=on_running, on_finished=on_finished)
    found = dict(action=todo, status=status)
    if recovered:
        found['recovered_claim'] = True
    if todo in (DO_ATTACH, DO_REFUSE, DO_RESTART):
        found['ansible_job_id'] = status['ansible_job_id']
    if todo == DO_REFUSE:
        found['msg'] = (
            'job %s named %r is running and on_running=fail: nothing was started, and that job '
            'keeps running. async_wait (alias=%s) waits for it; on_running=attach attaches to '
            'it, on_running=restart kills it and starts a new one'
            % (status['ansible_job_id'], alias, alias))
    return found


def restart_job(async_dir, alias, found, liveness=wrapper_liveness, proc='/proc',
                sleep=time.sleep, clock=time.time, grace=RESTART_GRACE):
    """Kill the running job that ``found`` (decide's ``restart``) leads to, for a restart
    (on_running=restart), under the name's lock. Fail closed: JobError, and nothing is
    started, when whether its processes live cannot be told or some are still there after
    SIGKILL. Returns what the start's result reports of it (``replaced``)."""
    jid = found['ansible_job_id']
    status = found['status']
    if status.get('warnings'):
        raise JobError(
            'job %s named %r is running and on_running=restart stops it before starting a new '
            'one, but %s; nothing was stopped or started, and the name still leads to job %s'
            % (jid, alias, status['warnings'][0], jid),
            ansible_job_id=jid, ansible_job_alias=alias, job_started=False)
    killed = kill(async_dir, jid, sig='TERM', grace=grace, liveness=liveness, proc=proc,
                  sleep=sleep, clock=clock)
    if killed.get('unstopped'):
        raise JobError(
            'job %s named %r was killed for on_running=restart, but its processes %s are still '
            'there even after SIGKILL; nothing was started, and the name still leads to job %s'
            % (jid, alias, killed['unstopped'], jid),
            ansible_job_id=jid, ansible_job_alias=alias, job_started=False)
    return dict(ansible_job_id=jid, state=killed['state'], pids=killed['pids'])


def claim_name(async_dir, alias, token, clock, **extra):
    """Free the name and claim it with ``token`` (under the name's lock)."""
    free_name(async_dir, alias)
    atomic_write_json(claim_path(async_dir, alias),
                      dict(token=token, time=clock(), pid=os.getpid(), **extra), durable=False)


def under_claim(async_dir, alias, token, waiting, on_start, hold=0.0, check_mode=False,
                liveness=wrapper_liveness, clock=time.time, sleep=time.sleep, proc='/proc',
                stale_after=CLAIM_STALE_AFTER, lock_timeout=None, on_running=ATTACH,
                on_finished=None):
    """Decide, under the name's lock, what to do with ``alias`` (``decide``); when the job
    is to be started, return ``on_start(found)``, called still under the lock (for a
    restart, after the running job was killed: ``replaced`` in ``found`` says which).

    Another run's fresh claim (of a start in several steps) is waited for up to ``hold``
    seconds, the lock taken again every 0.2 s. Check mode only reads: no lock file, no
    async dir created, and ``on_start`` is not called.
    """
    deadline = clock() + max(0.0, hold)
    while True:
        with (nolock() if check_mode else alias_lock(async_dir, alias, timeout=lock_timeout,
                                                     clock=clock, sleep=sleep)):
            found = decide(async_dir, alias, token, waiting, check_mode, liveness, clock, sleep,
                           proc, stale_after, on_running=on_running, on_finished=on_finished)
            if found['action'] == DO_RESTART and not check_mode:
                replaced = restart_job(async_dir, alias, found, liveness=liveness, proc=proc,
                                       sleep=sleep, clock=clock)
                found = dict(found, action='start', replaced=replaced)
            if found['action'] == 'start' and not check_mode:
                return on_start(found)
            if found['action'] != 'claimed' or clock() >= deadline:
                return found
        sleep(0.2)


def prepare(async_dir, alias, token, waiting, check_mode=False, liveness=wrapper_liveness,
            clock=time.time, proc='/proc', stale_after=CLAIM_STALE_AFTER, sleep=time.sleep,
            hold=0.0, expected_jid=None, on_running=ATTACH, on_finished=None):
    """Decide, under the name's lock, what async_task does with ``alias`` when it starts
    the job in several steps (prepare, start, ``bind``).

    Returns a dict with ``action``: ``attach`` (with ``ansible_job_id``; the name's
    job is running, or finished and ``waiting`` so its outcome is returned),
    ``start`` (the name is now claimed with ``token``: start the job, then
    ``bind``; after a restart, ``replaced`` says which job was killed), ``refused`` (the
    job policy says fail; ``msg`` says why), or ``claimed`` (another run holds a fresh claim,
    still after ``hold`` seconds: ask again soon), and ``status``: the status of the job
    found under the name. ``on_running`` and ``on_finished``: the job policies.

    ``expected_jid``: the id the job will have (Mitogen for Ansible's, which the controller
    chooses), recorded in the claim: if this run dies before naming the job, the next run
    finds the job by its file, running or finished.
    """
    def claim(found):
        extra = dict(expected_jid=expected_jid) if expected_jid else {}
        claim_name(async_dir, alias, token, clock, **extra)
        failpoint('after-claim')
        return found
    return under_claim(async_dir, alias, token, waiting, claim, hold=hold, check_mode=check_mode,
                       liveness=liveness, clock=clock, sleep=sleep, proc=proc,
                       stale_after=stale_after, on_running=on_running, on_finished=on_finished)


def bind(async_dir, alias, token, jid, liveness=wrapper_liveness, what=None, output=None):
    """Name the job just started under our claim, record its meta file, and drop the claim.

    If another run took the claim over meanwhile (ours went stale), the name is
    left to it and ``bound`` is false.
    """
    with alias_lock(async_dir, alias):
        claim = read_claim(async_dir, alias)
        if claim and claim['token'] != token:
            return dict(bound=False, ansible_job_id=jid, ansible_job_alias=alias)
        failpoint('before-naming', jid=jid)
        result = set_alias(async_dir, alias, jid, force=True, liveness=liveness)
        failpoint('after-naming', jid=jid)
        started = claim.get('time') if claim else None
        write_meta(async_dir, jid, alias, started if isinstance(started, (int, float)) else None,
                   what=what, output=output)
        if claim:
            drop_claim(async_dir, alias)
        return dict(bound=True, ansible_job_id=jid, ansible_job_alias=alias,
                    alias_file=result['alias_file'])


def abandon(async_dir, alias, token, jid=None):
    """Give up our claim on ``alias``: drop it (the job could not be started), or, with
    ``jid`` (the job was started, but naming it failed), record the job in it, so that
    the next run names that job and attaches to it at once instead of waiting for the
    claim to go stale and starting a second job."""
    with alias_lock(async_dir, alias):
        claim = read_claim(async_dir, alias)
        if claim and claim['token'] == token:
            if jid is not None and os.path.exists(os.path.join(async_dir, jid)):
                atomic_write_json(claim_path(async_dir, alias), dict(claim, jid=jid),
                                  durable=False)
                return dict(abandoned=True, recorded=jid)
            drop_claim(async_dir, alias)
            return dict(abandoned=True)
    return dict(abandoned=False)
