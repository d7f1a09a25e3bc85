# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation, paths and names of asyncjobs.named: job ids, aliases and the ``jobs``
option, the async dir and the entries in it.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import errno
import os
import re
from collections.abc import Mapping, Sequence

ALIAS_PREFIX = 'jid_'
ALIAS_MAX_LEN = 128
ALIAS_RE = re.compile(r'^[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z')
# A job id of async_wrapper: [j]<digits>.<pid>; its prefix is the part before the dot.
JID_RE = re.compile(r'^j?[0-9]+\.[0-9]+\Z')
JID_PREFIX_RE = re.compile(r'^j?[0-9]+\Z')
# The temp files of atomic writes (temp_name).
TEMP_RE = re.compile(r'^\.(.+)\.[0-9a-f]{12}\.tmp\Z')
# The older form of a name, <jid>.jid_<alias>.
LEGACY_RE = re.compile(r'^(j?[0-9]+\.[0-9]+)\.jid_(.+)\Z')
# The lock and claim of a name (.jid_<alias>.lock, .claim) and a job's meta (.<jid>.meta).
SIDECAR_RE = re.compile(r'^\.(.+)\.(lock|claim|meta)\Z')
ALIAS_HELP = ('letters, digits, "_", "-" and ".", not starting with ".", at most %d characters'
              % ALIAS_MAX_LEN)


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


def validate(alias=None, jid=None):
    """Raise JobError for an invalid alias or jid (those given)."""
    for msg in (alias_error(alias) if alias is not None else None,
                jid_error(jid) if jid is not None else None):
        if msg:
            raise JobError(msg)


def jid_prefix(jid):
    """The part of a jid that async_wrapper's command line carries ('j123' of 'j123.42')."""
    return jid.split('.', 1)[0]


def expand_async_dir(async_dir):
    """``async_dir`` as async_wrapper expands it (``~`` only; an absolute path as given)."""
    return os.path.expanduser(async_dir)


def require_async_dir(params):
    """The async dir the action plugin passed in, expanded as async_wrapper expands
    ANSIBLE_ASYNC_DIR when it writes a job file: ``os.path.expanduser``, as the user the
    module runs as (the become user), so both agree by construction. JobError when the
    module runs without it."""
    if not params.get('_async_dir'):
        raise JobError('_async_dir is not set: the action plugin passes it; when running the '
                       'module alone, give it with the other arguments')
    return expand_async_dir(params['_async_dir'])


DURATION_RE = re.compile(r'^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*\Z')
UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400}
DURATION_HELP = ('give a number of seconds, or a number followed by s, m, h or d '
                 '(30s, 15m, 12h, 7d)')


def parse_duration(value, option='older_than'):
    """Seconds of a duration: ``30s``, ``15m``, ``12h``, ``7d``, or a number of seconds.
    JobError for anything else (negative, empty, an unknown unit)."""
    if isinstance(value, bool) or value is None:
        raise JobError('%s: invalid duration %r: %s' % (option, value, DURATION_HELP))
    if isinstance(value, (int, float)):
        if value < 0:
            raise JobError('%s: invalid duration %r: %s' % (option, value, DURATION_HELP))
        return float(value)
    m = DURATION_RE.match(value) if isinstance(value, str) else None
    if not m:
        raise JobError('%s: invalid duration %r: %s' % (option, value, DURATION_HELP))
    return float(m.group(1)) * UNITS[m.group(2)]


# --------------------------------------------------------------------------
# The jobs option: several jobs in one task

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


def ref_name(i, ref):
    """How an error names entry ``i`` of a ``jobs`` option."""
    return 'jobs[%d] (%s)' % (i, ', '.join(ref[k] for k in ('alias', 'jid') if k in ref))


def ref_jid(async_dir, ref):
    """The jid of a ref (job_refs): its own, or its name's (None for an absent name)."""
    if 'jid' in ref:
        return ref['jid']
    _link, path = find_alias(async_dir, ref['alias'])
    return os.path.basename(path) if path is not None else None


# --------------------------------------------------------------------------
# Paths and names

def job_path(async_dir, jid):
    return os.path.join(async_dir, jid)


def alias_path(async_dir, alias):
    return os.path.join(async_dir, ALIAS_PREFIX + alias)


def lock_path(async_dir, alias):
    """The lock file of a name: ``.jid_<alias>.lock`` (empty; see _async_changes.alias_lock)."""
    return os.path.join(async_dir, '.%s%s.lock' % (ALIAS_PREFIX, alias))


def claim_path(async_dir, alias):
    """The claim file of a name: ``.jid_<alias>.claim`` (see _async_claims)."""
    return os.path.join(async_dir, '.%s%s.claim' % (ALIAS_PREFIX, alias))


def meta_path(async_dir, jid):
    """The file in which async_task records how it started a job: ``.<jid>.meta``."""
    return os.path.join(async_dir, '.%s.meta' % jid)


def entry_kind(name):
    """What an entry of the async dir is, by its name: (kind, key) with kind one of 'job'
    (key: jid), 'name' (``jid_<alias>``; key: alias), 'legacy_name' (``<jid>.jid_<alias>``;
    key: (jid, alias)), 'lock' and 'claim' (key: alias), 'meta' (key: jid), 'temp' (an atomic
    write's temp file, or native's ``<jid>.tmp``; key: the base name), or (None, None) for
    anything that is neither ours nor native async's."""
    if JID_RE.match(name):
        return 'job', name
    if name.startswith(ALIAS_PREFIX) and not alias_error(name[len(ALIAS_PREFIX):]):
        return 'name', name[len(ALIAS_PREFIX):]
    m = LEGACY_RE.match(name)
    if m and not alias_error(m.group(2)):
        return 'legacy_name', (m.group(1), m.group(2))
    m = SIDECAR_RE.match(name)
    if m:
        kind, key = m.group(2), m.group(1)
        if kind in ('lock', 'claim') and key.startswith(ALIAS_PREFIX) \
                and not alias_error(key[len(ALIAS_PREFIX):]):
            return kind, key[len(ALIAS_PREFIX):]
        if kind == 'meta' and JID_RE.match(key):
            return 'meta', key
    if name.endswith('.tmp') and JID_RE.match(name[:-4]):
        return 'temp', name[:-4]
    base = temp_base(name)
    if base is not None:
        return 'temp', base
    return None, None


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


def async_dir_names(async_dir):
    """The names in the async dir; none when it does not exist (yet)."""
    try:
        return os.listdir(async_dir)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return []
        raise


def legacy_alias_links(async_dir, alias):
    """Links of the form ``<jid>.jid_<alias>`` (needs a directory scan)."""
    suffix = '.' + ALIAS_PREFIX + alias
    found = []
    for name in async_dir_names(async_dir):
        if name.endswith(suffix) and JID_RE.match(name[:-len(suffix)]):
            found.append(os.path.join(async_dir, name))
    return sorted(found)


def temp_name(base):
    """The name of the temp file of an atomic write of ``base``: ``.<base>.<12 hex>.tmp``."""
    return '.%s.%s.tmp' % (base, binascii.hexlify(os.urandom(6)).decode())


def temp_base(name):
    """``base`` when ``name`` is a temp file of an atomic write of it (``temp_name``), else None."""
    m = TEMP_RE.match(name)
    return m.group(1) if m else None


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
        for legacy in legacy_alias_links(async_dir, alias):
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
