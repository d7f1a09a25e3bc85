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
    mode=dict(type='str', default='status', choices=['status', 'cleanup', 'full_cleanup']),
    force=dict(type='bool', default=False),
)
STATUS_MUTUALLY_EXCLUSIVE = [('jid', 'alias')]
STATUS_REQUIRED_ONE_OF = [('jid', 'alias')]

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


def scan_proc(prefix, proc='/proc'):
    """Look for the wrapper in ``/proc``.

    Returns (pids, complete): the matching pids, and whether every process could
    be inspected (False when some cmdline could not be read for lack of permission).
    """
    pids = []
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
        args = raw.decode('utf-8', 'replace').split('\0')
        if is_wrapper_cmdline(args, prefix):
            pids.append(int(name))
    return sorted(pids), complete


def ps_env():
    """Environment for ``ps``: procps cuts args at $COLUMNS even into a pipe, so it is
    dropped to keep the jid from being cut off."""
    return dict((k, v) for k, v in os.environ.items() if k != 'COLUMNS')


def scan_ps(prefix):
    """Fallback without /proc: ``ps -A -o pid= -o args=`` (POSIX options).

    Arguments are split on white space, which is enough to spot the wrapper path
    and the prefix (neither contains spaces in paths Ansible generates).
    """
    out = subprocess.check_output(['ps', '-A', '-o', 'pid=', '-o', 'args='], env=ps_env())
    pids = []
    for line in out.decode('utf-8', 'replace').splitlines():
        fields = line.split()
        if len(fields) > 1 and fields[0].isdigit() and is_wrapper_cmdline(fields[1:], prefix):
            pids.append(int(fields[0]))
    return sorted(pids), True


def wrapper_liveness(jid, proc='/proc', owner_uid=None):
    """Whether the async_wrapper of ``jid`` is alive.

    Returns (alive, pids, why): ``alive`` is True, False, or None when it cannot
    be determined (``why`` then says why).
    """
    prefix = jid_prefix(jid)
    try:
        if os.path.isdir(os.path.join(proc, 'self')):
            pids, complete = scan_proc(prefix, proc)
            if not pids and complete and _proc_hidden(proc):
                euid = os.geteuid()
                if euid != 0 and owner_uid is not None and owner_uid != euid:
                    complete = False
        else:
            pids, complete = scan_ps(prefix)
    except (OSError, subprocess.CalledProcessError) as e:
        return None, [], 'could not list processes: %s' % e
    if pids:
        return True, pids, None
    if not complete:
        return None, [], ('could not read every process command line (no permission), '
                          'so whether the job\'s async_wrapper is alive is unknown')
    return False, [], None


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
