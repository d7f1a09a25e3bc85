# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared core of asyncjobs.named: job files, aliases, liveness and states.

Private to the collection (leading underscore). Runs on the target, so it must
stay compatible with Python 3.6 (RHEL 8 platform-python): no f-strings with '=',
no walrus, no newer stdlib.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence

ALIAS_PREFIX = 'jid_'
ALIAS_MAX_LEN = 128
ALIAS_RE = re.compile(r'^[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z')
JID_RE = re.compile(r'^j?[0-9]+\.[0-9]+\Z')
ALIAS_HELP = ('letters, digits, "_", "-" and ".", not starting with ".", at most %d characters'
              % ALIAS_MAX_LEN)

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

TIMEOUT_MSG = 'Timeout exceeded'

# Keys that every result describes a job with, whatever the mode.
SUMMARY_KEYS = ('started', 'finished', 'killed', 'pid_missing', 'state', 'ansible_job_id',
                'ansible_job_alias', 'results_file')

# One argument spec per module, shared by the action plugin (validation on the
# controller) and the module (validation on the target).
STATUS_ARGUMENT_SPEC = dict(
    jid=dict(type='str'),
    alias=dict(type='str'),
    jobs=dict(type='raw'),
    mode=dict(type='str', default='status', choices=['status', 'cleanup', 'full_cleanup']),
    force=dict(type='bool', default=False),
)
STATUS_MUTUALLY_EXCLUSIVE = [('jid', 'alias', 'jobs')]
STATUS_REQUIRED_ONE_OF = [('jid', 'alias', 'jobs')]

ALIAS_ARGUMENT_SPEC = dict(
    alias=dict(type='str', required=True),
    job=dict(type='raw'),
    jid=dict(type='str'),
    force=dict(type='bool', default=False),
)


# The async dir, passed to every module by its action plugin as the shell option
# async_dir gives it (``~/.ansible_async`` by default), unexpanded: the module expands it
# on the host by async_wrapper's own rule (require_async_dir).
# Private: not documented, not required by the spec, checked by require_async_dir().
PRIVATE_ARGUMENT_SPEC = dict(_async_dir=dict(type='str'))


class JobError(Exception):
    """A problem to report as a failed task with this message (never a traceback)."""

    def __init__(self, msg, **result):
        super(JobError, self).__init__(msg)
        self.msg = msg
        self.result = result


# --------------------------------------------------------------------------
# Input validation

def alias_error(alias):
    """Return a message saying why ``alias`` is not a valid job name, or None."""
    if not isinstance(alias, str) or not alias:
        return 'alias must be a non-empty string of %s' % ALIAS_HELP
    if len(alias) > ALIAS_MAX_LEN or not ALIAS_RE.match(alias):
        return 'invalid alias %r: use only %s' % (alias, ALIAS_HELP)
    return None


def jid_error(jid):
    """Return a message saying why ``jid`` does not look like a job id, or None."""
    if not isinstance(jid, str) or not JID_RE.match(jid):
        return ('invalid jid %r: a job id looks like "j123456789012.4242" '
                '(optional "j", digits, ".", digits)' % (jid,))
    return None


def require_async_dir(params):
    """The async dir the action plugin passed in, expanded as async_wrapper expands
    ANSIBLE_ASYNC_DIR when it writes a job file: ``os.path.expanduser``, as the user the
    module runs as (the become user), so both agree by construction. JobError when the
    module runs without it."""
    if not params.get('_async_dir'):
        raise JobError('_async_dir is not set: the action plugin passes it; when running the '
                       'module alone, give it with the other arguments')
    return expand_async_dir(params['_async_dir'])


def expand_async_dir(async_dir):
    """``async_dir`` as async_wrapper expands it (``~`` only; an absolute path as given)."""
    return os.path.expanduser(async_dir)


def validate(alias=None, jid=None):
    """Raise JobError for an invalid alias or jid (those given)."""
    for msg in (alias_error(alias) if alias is not None else None,
                jid_error(jid) if jid is not None else None):
        if msg:
            raise JobError(msg)


def jid_prefix(jid):
    """The part of a jid that async_wrapper's command line carries ('j123' of 'j123.42')."""
    return jid.split('.', 1)[0]


# The forms of an entry of a ``jobs`` option, as named in its error messages.
JOB_FORMS = dict(result='a registered async result', jid='a job id', alias='a name',
                 ref='a dict with jid and/or alias')


def job_refs(jobs):
    """The jobs of a ``jobs`` option as a list of dicts with ``jid`` and/or ``alias``.

    ``jobs`` is a loop's registered result (a dict with ``results``) or a list of one form
    of entries: registered async results (by their ``ansible_job_id``), job ids, names, or
    dicts with ``jid`` and/or ``alias``. A string that looks like a job id is a job id.
    JobError, naming the entry, for anything else, for mixed forms and for duplicates.
    """
    if isinstance(jobs, Mapping) and 'results' in jobs:
        jobs = jobs['results']
    if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Sequence):
        raise JobError('jobs must be a list (of job ids, names or registered async results) or '
                       'a loop\'s registered result, not %s' % _kind(jobs))
    if not jobs:
        raise JobError('jobs is empty: give at least one job')
    refs = []
    first = None
    seen = {}
    for i, entry in enumerate(jobs):
        form, ref = _job_ref(i, entry)
        if first is None:
            first = form
        elif form != first:
            raise JobError('jobs[%d] is %s, but jobs[0] is %s: give the jobs in one form'
                           % (i, JOB_FORMS[form], JOB_FORMS[first]))
        key = ('jid', ref['jid']) if 'jid' in ref else ('alias', ref['alias'])
        if key in seen:
            raise JobError('jobs[%d] is the same job as jobs[%d] (%s %s): give each job once'
                           % (i, seen[key], 'job id' if key[0] == 'jid' else 'name', key[1]))
        seen[key] = i
        refs.append(ref)
    return refs


def _job_ref(i, entry):
    """(form, ref) of one entry of ``jobs``; JobError naming it when it is none."""
    if isinstance(entry, Mapping):
        keys = set(entry)
        if keys and keys <= set(('jid', 'alias')):
            ref = dict((k, entry[k]) for k in ('jid', 'alias') if entry.get(k) is not None)
            if not ref:
                raise JobError('jobs[%d] gives neither jid nor alias' % i)
            _check_ref(i, ref)
            return 'ref', ref
        jid = entry.get('ansible_job_id')
        if not jid:
            why = ' (the task that registered it was skipped)' if entry.get('skipped') else ''
            raise JobError('jobs[%d] is not an async job result: it has no ansible_job_id%s'
                           % (i, why))
        ref = dict(jid=jid)
        _check_ref(i, ref)
        return 'result', ref
    if isinstance(entry, str):
        if JID_RE.match(entry):
            return 'jid', dict(jid=entry)
        ref = dict(alias=entry)
        _check_ref(i, ref)
        return 'alias', ref
    raise JobError('jobs[%d] is %s, not a job id, a name or a registered async result'
                   % (i, _kind(entry)))


def _kind(value):
    """What ``value`` is, in a message ('a number', not a Python class name, which on the
    controller may be one of Ansible's tagged types)."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, (str, bytes)):
        return 'a string'
    if isinstance(value, Mapping):
        return 'a dict'
    if isinstance(value, Sequence):
        return 'a list'
    return 'a %s' % type(value).__name__


def _check_ref(i, ref):
    for msg in (alias_error(ref['alias']) if 'alias' in ref else None,
                jid_error(ref['jid']) if 'jid' in ref else None):
        if msg:
            raise JobError('jobs[%d]: %s' % (i, msg))


# --------------------------------------------------------------------------
# Paths and aliases

def job_path(async_dir, jid):
    return os.path.join(async_dir, jid)


def alias_path(async_dir, alias):
    return os.path.join(async_dir, ALIAS_PREFIX + alias)


def inside_dir(async_dir, path):
    """True when ``path`` (absolute) names an entry directly inside ``async_dir``.

    Compared lexically first, then by real path of the parent, so an async dir
    reached through a symlink (``~/.ansible_async -> /data/async``) still works.
    """
    parent = os.path.dirname(os.path.normpath(path))
    if parent == os.path.normpath(async_dir):
        return True
    try:
        return os.path.realpath(parent) == os.path.realpath(async_dir)
    except OSError:
        return False


def link_target(async_dir, link):
    """Absolute, normalised target of the symlink ``link`` (relative targets are
    taken from the async dir), or None when ``link`` is not a symlink."""
    try:
        target = os.readlink(link)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.EINVAL, errno.ENOTDIR):
            return None
        raise
    return os.path.normpath(os.path.join(async_dir, target))


def _async_dir_names(async_dir):
    """The names in the async dir; none when it does not exist (yet)."""
    try:
        return os.listdir(async_dir)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return []
        raise


def _legacy_alias_links(async_dir, alias):
    """Links of the form ``<jid>.jid_<alias>`` (needs a directory scan)."""
    suffix = '.' + ALIAS_PREFIX + alias
    found = []
    for name in _async_dir_names(async_dir):
        if name.endswith(suffix) and JID_RE.match(name[:-len(suffix)]):
            found.append(os.path.join(async_dir, name))
    return sorted(found)


def find_alias(async_dir, alias):
    """Resolve a job name.

    Returns ``(link, job_file)`` where ``link`` is the alias link found and
    ``job_file`` the path it points to (which may not exist: a dangling alias),
    or ``(None, None)`` when there is no such name. The primary form
    ``jid_<alias>`` costs one readlink; only when it is missing is the async
    dir scanned for the form ``<jid>.jid_<alias>``.
    """
    link = alias_path(async_dir, alias)
    target = link_target(async_dir, link)
    if target is None:
        for legacy in _legacy_alias_links(async_dir, alias):
            target = link_target(async_dir, legacy)
            if target is not None:
                link = legacy
                break
    if target is None:
        return None, None
    if not inside_dir(async_dir, target):
        raise JobError('alias %r points outside the async dir %s (to %s); refusing to use it'
                       % (alias, async_dir, target), ansible_job_alias=alias)
    if not JID_RE.match(os.path.basename(target)):
        raise JobError('alias %r points to %s, which is not a job file (its name is not a job '
                       'id); refusing to use it' % (alias, target), ansible_job_alias=alias)
    return link, target


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
# Liveness of async_wrapper

def is_wrapper_cmdline(args, prefix):
    """True when the argument list is async_wrapper's for the jid prefix.

    2.9-2.20: ``python .../async_wrapper.py <prefix> <limit> .../AnsiballZ_x.py ...``;
    2.21: ``python .../async_wrapper.py <prefix> <limit> <true|false> ...``.
    Both carry an argument ending in async_wrapper.py and one equal to the prefix.
    """
    has_wrapper = False
    has_prefix = False
    for arg in args:
        if arg.endswith('async_wrapper.py'):
            has_wrapper = True
        elif arg == prefix:
            has_prefix = True
    return has_wrapper and has_prefix


def _proc_hidden(proc='/proc'):
    """True when /proc is mounted with hidepid, so other users' processes may be hidden."""
    hidden = False
    try:
        with open(os.path.join(proc, 'mounts')) as f:
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[1] == proc:
                    # The last mount of /proc is the one in effect.
                    hidden = 'hidepid=' in fields[3] and not any(
                        o in fields[3] for o in ('hidepid=0', 'hidepid=off'))
    except (IOError, OSError):
        return False
    return hidden


WRAPPER_MARK = b'async_wrapper.py'


def _read_small(path):
    """The whole content of a small file, with no buffered file object (cheaper when it
    is done for every process)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b''.join(chunks)
    finally:
        os.close(fd)


def _wrapper_prefix(args, prefixes):
    """The prefix of ``prefixes`` that async_wrapper's argument list ``args`` is for, or None."""
    if not any(arg.endswith('async_wrapper.py') for arg in args):
        return None
    for arg in args:
        if arg in prefixes:
            return arg
    return None


def scan_proc(prefix, proc='/proc'):
    """Look for the wrapper of the jid prefix ``prefix`` in ``/proc``.

    Returns (pids, complete): the matching pids, and whether every process could
    be inspected (False when some cmdline could not be read for lack of permission).
    """
    found, complete = scan_proc_prefixes([prefix], proc)
    return found.get(prefix, []), complete


def scan_proc_prefixes(prefixes, proc='/proc'):
    """Look for the wrappers of several jid prefixes in one pass over ``/proc``.

    Returns ({prefix: sorted pids}, complete), with only the prefixes found.
    """
    prefixes = frozenset(prefixes)
    found = {}
    complete = True
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            raw = _read_small(os.path.join(proc, name, 'cmdline'))
        except (IOError, OSError) as e:
            if e.errno in (errno.EACCES, errno.EPERM):
                complete = False
            continue  # the process exited meanwhile
        # Most processes are not wrappers: skip them before decoding and splitting.
        if WRAPPER_MARK not in raw:
            continue
        prefix = _wrapper_prefix(raw.decode('utf-8', 'replace').split('\0'), prefixes)
        if prefix is not None:
            found.setdefault(prefix, []).append(int(name))
    return dict((k, sorted(v)) for k, v in found.items()), complete


def ps_env():
    """Environment for ``ps``: procps cuts args at $COLUMNS even into a pipe, so it is
    dropped to keep the jid from being cut off."""
    return dict((k, v) for k, v in os.environ.items() if k != 'COLUMNS')


def scan_ps(prefix):
    """Fallback without /proc: ``ps -A -o pid= -o args=`` (POSIX options).

    Arguments are split on white space, which is enough to spot the wrapper path
    and the prefix (neither contains spaces in paths Ansible generates).
    """
    found, complete = scan_ps_prefixes([prefix])
    return found.get(prefix, []), complete


def scan_ps_prefixes(prefixes):
    """``scan_proc_prefixes`` from ``ps`` output."""
    prefixes = frozenset(prefixes)
    out = subprocess.check_output(['ps', '-A', '-o', 'pid=', '-o', 'args='], env=ps_env())
    found = {}
    for line in out.decode('utf-8', 'replace').splitlines():
        fields = line.split()
        if len(fields) > 1 and fields[0].isdigit():
            prefix = _wrapper_prefix(fields[1:], prefixes)
            if prefix is not None:
                found.setdefault(prefix, []).append(int(fields[0]))
    return dict((k, sorted(v)) for k, v in found.items()), True


def wrapper_liveness(jid, proc='/proc', owner_uid=None):
    """Whether the async_wrapper of ``jid`` is alive.

    Returns (alive, pids, why): ``alive`` is True, False, or None when it cannot
    be determined (``why`` then says why).
    """
    return liveness_snapshot([jid], proc)(jid, owner_uid=owner_uid)


def liveness_snapshot(jids, proc='/proc'):
    """One scan of the process table for the wrappers of all ``jids``; returns a liveness
    callable (like ``wrapper_liveness``) that answers for those jids from that scan."""
    prefixes = dict((jid, jid_prefix(jid)) for jid in jids)
    error = None
    has_proc = os.path.isdir(os.path.join(proc, 'self'))
    try:
        if has_proc:
            found, complete = scan_proc_prefixes(prefixes.values(), proc)
        else:
            found, complete = scan_ps_prefixes(prefixes.values())
    except (OSError, subprocess.CalledProcessError) as e:
        found, complete, error = {}, False, 'could not list processes: %s' % e
    hidden = []  # read from /proc/mounts once, and only when a wrapper is not found

    def liveness(jid, owner_uid=None):
        if jid not in prefixes:  # not scanned for: ask on its own
            return wrapper_liveness(jid, proc, owner_uid=owner_uid)
        if error:
            return None, [], error
        pids = found.get(prefixes[jid], [])
        if pids:
            return True, pids, None
        known = complete
        if known and has_proc and not hidden:
            hidden.append(_proc_hidden(proc))
        if known and has_proc and hidden[0]:
            euid = os.geteuid()
            if euid != 0 and owner_uid is not None and owner_uid != euid:
                known = False
        if not known:
            return None, [], ('could not read every process command line (no permission), '
                              'so whether the job\'s async_wrapper is alive is unknown')
        return False, [], None
    return liveness


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
    if not job.exists:
        if alias is not None:
            return _absent(alias, jid, path)
        raise JobError('could not find job', ansible_job_id=jid, started=True, finished=True,
                       results_file=path)

    alive, warning = True, None
    if not job.finished:
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


def ref_name(i, ref):
    """How an error names entry ``i`` of a ``jobs`` option."""
    return 'jobs[%d] (%s)' % (i, ', '.join(ref[k] for k in ('alias', 'jid') if k in ref))


def ref_jid(async_dir, ref):
    """The jid of a ref (job_refs): its own, or its name's (None for an absent name)."""
    if 'jid' in ref:
        return ref['jid']
    _link, path = find_alias(async_dir, ref['alias'])
    return os.path.basename(path) if path is not None else None


def job_statuses(async_dir, refs, liveness_for=liveness_snapshot):
    """The status of each job of ``refs`` (job_refs), in order, as ``job_status`` gives it
    (by jid when the ref has one, else by name), with one scan of the process table for all.
    A JobError names the entry it is about."""
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


def _summary(status):
    return dict((k, status[k]) for k in SUMMARY_KEYS if k in status)
