# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Garbage collection of the async dir (async_prune).

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import errno
import fcntl
import os
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import (
    job_path, lock_path, meta_path)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import (
    FINISHED_STATES, RUNNING)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.entries import meta_output_log
from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
    has_proc, liveness_snapshot)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import (
    alias_lock, remove_entry, remove_lock_file)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.claims import (
    find_claimed_job, job_of_prefix)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.listing import (
    Listing, job_names, matches)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import CLAIM_STALE_AFTER


class _Pruner:

    def __init__(self, listing, check_mode, patterns):
        self.listing = listing
        self.async_dir = listing.async_dir
        self.check_mode = check_mode
        self.patterns = patterns
        self.removed = []
        self.locked = set()  # names whose lock remove_name took

    def remove(self, path):
        if remove_entry(self.async_dir, path, self.check_mode):
            self.removed.append(path)

    def remove_name(self, entry, jid=None):
        """Remove a name (the link itself) while it still points where it did: under the
        name's lock, as a concurrent async_task may be giving it to a new job."""
        if self.check_mode:
            self.removed.append(entry['link'])
            return
        self.locked.add(entry['name'])
        with alias_lock(self.async_dir, entry['name']):
            try:
                target = os.readlink(entry['link'])
            except OSError as e:
                if e.errno == errno.ENOENT:
                    return
                raise
            if os.path.normpath(os.path.join(self.async_dir, target)) == entry['target']:
                self.remove(entry['link'])

    def wanted(self, names):
        return not self.patterns or matches(names, self.patterns)


def open_files(paths, proc='/proc'):
    """The ones among ``paths`` (files) that some process has open, by one look at the
    open files of every process whose ``fd`` dir can be read (the user's own; all for
    root). None when that cannot be known (no /proc): then any of them may be open.

    Matched by device and inode, so that a path reached through a symlinked dir is seen;
    only the descriptors whose link names a file of the same base name are looked at."""
    if not has_proc(proc):
        return None
    wanted = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        wanted.setdefault(os.path.basename(path), {})[(st.st_dev, st.st_ino)] = path
    found = set()
    if not wanted:
        return found
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = os.path.join(proc, pid, 'fd')
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            fd_path = os.path.join(fd_dir, fd)
            try:
                base = os.path.basename(os.readlink(fd_path))
                if base not in wanted:
                    continue
                st = os.stat(fd_path)
            except OSError:
                continue
            path = wanted[base].get((st.st_dev, st.st_ino))
            if path is not None:
                found.add(path)
    return found


def prune(async_dir, older_than, states=FINISHED_STATES, patterns=None, keep=0,
          check_mode=False, liveness_for=liveness_snapshot, clock=time.time,
          stale_after=CLAIM_STALE_AFTER, proc='/proc'):
    """Remove from ``async_dir``: the finished jobs (in ``states``, with a name matching
    ``patterns`` when given) that ended more than ``older_than`` seconds ago, except the
    ``keep`` newest of each name, with everything of theirs (names, meta, output log,
    temp files); and, whatever the age, names whose job is gone, lock files of unused
    names, dead claims, metas of vanished jobs, and temp files and output logs of no job
    (none open by a process) older than ``older_than``.
    Never a running job, a fresh claim, a foreign file or anything outside the dir.
    Returns ``removed`` (sorted paths), ``kept_running`` and ``changed``."""
    listing = Listing(async_dir, liveness_for=liveness_for, clock=clock)
    cutoff = listing.now - older_than
    p = _Pruner(listing, check_mode, patterns)
    jobs = listing.jobs
    running = set(jid for jid, job in jobs.items()
                  if job['status'] is not None and job['status']['state'] == RUNNING)

    # --- finished jobs, oldest first within each name -----------------------------------------
    ended = {}
    for jid, job in jobs.items():
        if job['status'] is None or jid in running:
            continue
        _start, end = listing.times(jid)
        ended[jid] = end if end is not None else job['stat'].st_mtime
    kept = set()
    if keep:
        by_name = {}
        for jid in ended:
            for name in job_names(listing, jid):
                by_name.setdefault(name, []).append(jid)
        for jids in by_name.values():
            kept.update(sorted(jids, key=lambda j: ended[j], reverse=True)[:keep])
    victims = set()
    for jid, when in ended.items():
        if (jid not in kept and jobs[jid]['status']['state'] in states and when <= cutoff
                and p.wanted(job_names(listing, jid))):
            victims.add(jid)
    outputs = {}  # {jid: the output log its meta names}
    for jid in listing.metas:
        log = meta_output_log(async_dir, listing.meta(jid))
        if log:
            outputs[jid] = log
    for entry in listing.names:
        if entry['job'] in victims:
            p.remove_name(entry)
    for jid in sorted(victims):
        p.remove(job_path(async_dir, jid))
        if jid in listing.metas:
            p.remove(meta_path(async_dir, jid))
        if jid in outputs and os.path.lexists(outputs[jid]):
            p.remove(outputs[jid])
        for path, base, _st in listing.temps:
            if base == jid:
                p.remove(path)

    # --- whatever the age ------------------------------------------------------------------
    for entry in listing.names:
        if (entry['dangling'] or entry['outside']) and entry['job'] not in victims \
                and p.wanted([entry['name']]):
            p.remove_name(entry)
    for jid in listing.metas:
        if jid not in jobs:  # the meta of a job whose file is gone
            p.remove(meta_path(async_dir, jid))
    # Output logs of no job left (their job's file or meta is gone, or its start never
    # wrote the meta): once older than older_than, unless a process still writes them.
    owned = set(log for jid, log in outputs.items() if jid in jobs)
    stray = [path for path in listing.outputs if path not in owned and path not in p.removed
             and listing.outputs[path].st_mtime <= cutoff and p.wanted([])]
    if stray:
        busy = open_files(stray, proc)
        for path in sorted(stray):
            if busy is not None and path not in busy:
                p.remove(path)
    for path, base, st in listing.temps:
        if base not in running and base not in victims and st.st_mtime <= cutoff \
                and os.path.lexists(path):
            p.remove(path)
    for claim in listing.claims:
        if claim['age'] >= stale_after and p.wanted([claim['name']]) \
                and _claim_is_dead(async_dir, claim, proc):
            p.remove(claim['path'])
    # Lock files of names now unused: those there before are reported; those that taking
    # a name's lock to remove it created are removed without a word.
    used = set(n['name'] for n in listing.names if n['link'] not in p.removed)
    used.update(c['name'] for c in listing.claims if c['path'] not in p.removed)
    for alias in sorted(set(listing.locks) | p.locked):
        if alias in used or not p.wanted([alias]):
            continue
        if check_mode:
            p.removed.append(listing.locks[alias])
        elif remove_lock_file(async_dir, alias) and alias in listing.locks:
            p.removed.append(listing.locks[alias])
    return dict(removed=sorted(set(p.removed)), kept_running=len(running),
                changed=bool(p.removed))


def _claim_is_dead(async_dir, claim, proc):
    """True when nobody is starting a job under ``claim`` any more, and no job of it exists
    to be named: its lock is free (a one-step start holds it for the claim's whole life)
    and its job is nowhere (by the jid prefix it records, or by its token in the
    environment of a running job)."""
    path = lock_path(async_dir, claim['name'])
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        fd = None
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (IOError, OSError):
                return False  # someone holds it: the claim is being worked on
        if claim.get('jid_prefix'):
            return job_of_prefix(async_dir, claim['jid_prefix']) is None
        return not claim.get('token') or find_claimed_job(async_dir, claim['token'], proc) is None
    finally:
        if fd is not None:
            os.close(fd)
