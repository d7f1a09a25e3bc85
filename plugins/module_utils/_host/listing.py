# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Listing the async dir (async_jobs_info, async_prune): every job with its names, state and
times, every name, every claim; one listing of the dir and one scan of the process table.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import datetime
import fnmatch
import json
import os
import shlex
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    async_dir_names, inside_dir, link_target)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import JID_RE
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.entries import (
    entry_kind, meta_output_log)

from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import (
    describe, job_liveness, read_job)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import (
    FINISHED_STATES, RUNNING)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
    liveness_snapshot, process_args)


def iso_utc(epoch):
    """``epoch`` as ISO 8601 UTC (``2026-11-30T15:04:05Z``), or None."""
    if epoch is None:
        return None
    return datetime.datetime.utcfromtimestamp(int(epoch)).strftime('%Y-%m-%dT%H:%M:%SZ')


def local_time(text):
    """The epoch of a local time as ansible.builtin.command writes ``start``/``end``
    (``2026-11-30 15:04:05.123456``, the host's local time), or None. (Read by hand:
    time.strptime costs 25 us, a tenth of a listing's time per job.)"""
    if not isinstance(text, str):
        return None
    whole, _dot, frac = text.partition('.')
    try:
        day, clock = whole.split(' ')
        year, month, mday = [int(x) for x in day.split('-')]
        hour, minute, second = [int(x) for x in clock.split(':')]
        if not (1 <= month <= 12 and 1 <= mday <= 31 and hour < 24 and minute < 60
                and second < 62):
            return None
        epoch = time.mktime((year, month, mday, hour, minute, second, 0, 0, -1))
        return epoch + (float('0.' + frac) if frac.isdigit() else 0.0)
    except (ValueError, OverflowError):
        return None


def read_json_file(path):
    """A small JSON file of ours as a dict; None when missing or unreadable."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe_what(data, meta):
    """What a job runs: async_task's record of it, else the job's own result (``cmd`` of
    command and shell jobs), else None. ansible.builtin.command returns ``cmd`` as the
    list it ran, ansible.builtin.shell as the string the shell ran: that tells the two
    apart also where the result has no ``invocation`` (async results of ansible-core
    2.21)."""
    if meta and meta.get('what'):
        return meta['what']
    if data:
        cmd = data.get('cmd')
        if isinstance(cmd, list) and cmd:
            return 'command: %s' % ' '.join(shlex.quote(str(a)) for a in cmd)
        if cmd:
            return 'shell: %s' % cmd
    return None


def wrapper_module(pid, proc='/proc'):
    """``module: <name>`` of the module that async_wrapper process ``pid`` runs
    (``AnsiballZ_<name>.py`` in its command line), or None."""
    try:
        args = process_args(pid, proc)
    except (IOError, OSError):
        return None
    for arg in args:
        base = os.path.basename(arg)
        if base.startswith('AnsiballZ_') and base.endswith('.py'):
            return 'module: %s' % base[len('AnsiballZ_'):-len('.py')]
    return None


class Listing:
    """One look at an async dir: ``jobs`` {jid: dict}, ``names`` [dict], ``claims`` [dict],
    ``locks`` {alias: path}, ``metas`` {jid: path}, ``temps`` [(path, base)], ``outputs``
    {path: stat} (output logs), ``foreign`` [path]. Job states use one liveness snapshot (one scan of the process table)."""

    def __init__(self, async_dir, liveness_for=liveness_snapshot, clock=time.time):
        self.async_dir = async_dir
        self.now = clock()
        self.jobs = {}
        self.names = []
        self.claims = []
        self.locks = {}
        self.metas = {}
        self.temps = []
        self.outputs = {}
        self.foreign = []
        self.cgroup_mounts = {}  # read once, for the jobs of async_task (_containment)
        links = []
        for name in sorted(async_dir_names(async_dir)):
            path = os.path.join(async_dir, name)
            kind, key = entry_kind(name)
            try:
                st = os.lstat(path)
            except OSError:
                continue  # gone meanwhile
            is_link = os.path.islink(path)
            if kind == 'job' and not is_link and os.path.isfile(path):
                self.jobs[name] = dict(path=path, stat=st)
            elif kind in ('name', 'legacy_name') and is_link:
                links.append((name, path, kind, key))
            elif kind == 'claim' and not is_link:
                self.claims.append(dict(name=key, path=path, stat=st))
            elif kind == 'lock' and not is_link:
                self.locks[key] = path
            elif kind == 'meta' and not is_link:
                self.metas[key] = path
            elif kind == 'temp' and not is_link:
                self.temps.append((path, key, st))
            elif kind == 'output' and not is_link:
                self.outputs[path] = st
            else:
                self.foreign.append(path)
        self._read_jobs(liveness_for)
        for name, path, kind, key in links:
            self.names.append(self._name(name, path, kind, key))
        for entry in self.names:
            if entry['job'] in self.jobs:
                self.jobs[entry['job']]['aliases'].append(entry['name'])
        for claim in self.claims:
            data = read_json_file(claim['path']) or {}
            written = data.get('time')
            if not isinstance(written, (int, float)) or isinstance(written, bool):
                written = claim['stat'].st_mtime
            claim.update(age=round(max(0.0, self.now - written), 1),
                         token=data.get('token'), jid_prefix=data.get('jid_prefix'),
                         pid=data.get('pid'))

    def _read_jobs(self, liveness_for):
        files = {}
        for jid, job in self.jobs.items():
            files[jid] = read_job(job['path'])
        unfinished = [jid for jid, f in files.items() if not f.finished]
        liveness = liveness_for(unfinished) if unfinished else None
        for jid, job in self.jobs.items():
            f = files[jid]
            alive, pids = True, []
            if not f.finished:
                alive, pids, _why = job_liveness(jid, f, liveness, owner_uid=job['stat'].st_uid)
                f = read_job(job['path'])  # a job that finished during the scan is not dead
                if not f.exists:
                    f = files[jid]
            status = describe(f, jid, alive) if f.exists else None
            job.update(file=f, status=status, aliases=[], pids=pids if alive else [])

    def _name(self, name, path, kind, key):
        alias = key if kind == 'name' else key[1]
        target = link_target(self.async_dir, path)
        entry = dict(name=alias, link=path, form='jid_<alias>' if kind == 'name' else
                     '<jid>.jid_<alias>', target=target, job=None, dangling=True, outside=False)
        if target is None:
            return entry
        if not inside_dir(self.async_dir, target):
            entry['outside'] = True
            return entry
        base = os.path.basename(target)
        if JID_RE.match(base):
            entry['job'] = base
            entry['dangling'] = base not in self.jobs
        return entry

    def meta(self, jid):
        path = self.metas.get(jid)
        return read_json_file(path) if path else None

    def times(self, jid):
        """(start, end) epochs of a job, each None when not known (see async_jobs_info)."""
        job = self.jobs[jid]
        data = job['file'].data or {}
        meta = self.meta(jid) or {}
        mtime = job['stat'].st_mtime
        finished = job['status'] is not None and job['status']['state'] != RUNNING
        start = meta.get('started') if isinstance(meta.get('started'), (int, float)) else None
        if start is None:
            start = local_time(data.get('start'))
        if start is None and not finished:
            start = mtime  # written when the job started, and not again until it ends
        end = None
        if finished:
            end = local_time(data.get('end'))
            if end is None and job['status']['state'] != 'orphaned':
                end = mtime  # written when it ended (or was killed)
        return start, end


def matches(names, patterns):
    """True when one of ``names`` matches one of the shell-style ``patterns``."""
    return any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)


def job_names(listing, jid):
    """Every name of a job: the names pointing at it, and the one async_task started it under."""
    names = list(listing.jobs[jid]['aliases'])
    meta = listing.meta(jid)
    if meta and isinstance(meta.get('alias'), str) and meta['alias'] not in names:
        names.append(meta['alias'])
    return names


def list_jobs(async_dir, patterns=None, states=None, unnamed=True, tail_lines=10,
              liveness_for=liveness_snapshot, clock=time.time, tails=None):
    """What async_jobs_info returns: ``jobs`` (sorted by start time, newest last; unknown
    start times first), ``names`` and ``claims``. ``tails(path, lines)`` reads the tails
    of a running job's output log (stdout lines, stderr lines)."""
    listing = Listing(async_dir, liveness_for=liveness_for, clock=clock)
    jobs = []
    for jid, job in listing.jobs.items():
        status = job['status']
        if status is None:
            continue
        names = job_names(listing, jid)
        if patterns and not matches(names, patterns):
            continue
        if not names and not unnamed:
            continue
        if states and status['state'] not in states:
            continue
        jobs.append(_job_entry(listing, jid, names, tail_lines, tails))
    jobs.sort(key=lambda j: (j['_start'] is not None, j['_start'] or 0, j['ansible_job_id']))
    for j in jobs:
        del j['_start']
    return dict(
        jobs=jobs,
        names=[dict(name=n['name'], link=n['link'], form=n['form'], job=n['job'],
                    target=n['target'], dangling=n['dangling'], outside=n['outside'])
               for n in listing.names
               if not patterns or matches([n['name']], patterns)],
        claims=[dict(name=c['name'], path=c['path'], age=c['age'], jid_prefix=c['jid_prefix'])
                for c in listing.claims if not patterns or matches([c['name']], patterns)],
    )


def _containment(jid, meta, mounts):
    """How a job that async_task started is contained and what it used: the figures
    recorded once it ended, else read from its cgroup now (nothing is changed here: a
    status read records them). ``mounts``: a dict that keeps the host's cgroup mounts,
    read once per listing."""
    raw = (meta or {}).get('containment')
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get('final'), dict):
        return raw['final']
    # Imported here: only jobs of async_task need it.
    from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
        containment_record)
    from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import jid_prefix
    if 'points' not in mounts:
        mounts['points'] = containment_record.cgroup_mounts()
    record = containment_record.valid_record(raw, jid_prefix(jid), mounts['points'])
    if record is None:
        return None
    used = dict(mechanism=record['mechanism'])
    used.update(containment_record.usage(record) or {})
    return used


def _job_entry(listing, jid, names, tail_lines, tails):
    job = listing.jobs[jid]
    status = job['status']
    data = job['file'].data or {}
    meta = listing.meta(jid)
    start, end = listing.times(jid)
    running = status['state'] == RUNNING
    if start is not None:
        duration = (listing.now if running else (end if end is not None else None))
        duration = round(duration - start, 3) if duration is not None else None
    else:
        duration = None
    what = describe_what(data, meta)
    if what is None and running and job['pids']:
        what = wrapper_module(job['pids'][0])
    entry = dict(
        ansible_job_id=jid, aliases=sorted(names), state=status['state'],
        start_time=iso_utc(start), end_time=iso_utc(end), duration=duration,
        pids=job['pids'] if running else [],
        what=what,
        rc=data.get('rc') if status['state'] in FINISHED_STATES else None,
        msg=status.get('msg') if status['state'] in FINISHED_STATES else None,
        results_file=job['path'], size=job['stat'].st_size, _start=start)
    used = _containment(jid, meta, listing.cgroup_mounts)
    if used is not None:
        entry['containment'] = used
    log = meta_output_log(listing.async_dir, meta)
    if running and log and tails is not None:
        out, err = tails(log, tail_lines)
        entry.update(stdout_tail=out, stderr_tail=err)
    return entry
