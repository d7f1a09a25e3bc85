# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation, paths and names of asyncjobs.named: job ids, aliases and the ``jobs``
option, the async dir and the entries in it.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import errno
import os
import re

# Job states, as documented in the modules and the guides (here, not with the job files,
# so that the controller can use them without importing host-side code).
ABSENT = 'absent'
RUNNING = 'running'
SUCCEEDED = 'succeeded'
FAILED = 'failed'
TIMED_OUT = 'timed_out'
KILLED = 'killed'
ORPHANED = 'orphaned'
STATES = (ABSENT, RUNNING, SUCCEEDED, FAILED, TIMED_OUT, KILLED, ORPHANED)
FINISHED_STATES = (SUCCEEDED, FAILED, TIMED_OUT, KILLED, ORPHANED)

ALIAS_PREFIX = 'jid_'
ALIAS_MAX_LEN = 128
ALIAS_RE = re.compile(r'^[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z')
# A job id of async_wrapper: [j]<digits>.<pid>; its prefix is the part before the dot.
WRAPPER_JID_RE = re.compile(r'^j?[0-9]+\.[0-9]+\Z')
JID_PREFIX_RE = re.compile(r'^j?[0-9]+\Z')
# A job id of Mitogen for Ansible's async runner: 16 hex digits ('%016x' of a random int).
MITOGEN_JID_RE = re.compile(r'^[0-9a-f]{16}\Z')
# Any job id: the name of a job file.
JID_RE = re.compile(r'^(?:j?[0-9]+\.[0-9]+|[0-9a-f]{16})\Z')
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
        return ('invalid jid %r: a job id looks like "j123456789012.4242" (async_wrapper: '
                'optional "j", digits, ".", digits) or "66c6c6863f27278e" (Mitogen for '
                'Ansible: 16 hex digits)' % (jid,))
    return None


def is_mitogen_jid(jid):
    """True for a job id of Mitogen for Ansible's async runner (16 hex digits)."""
    return MITOGEN_JID_RE.match(jid) is not None


def validate(alias=None, jid=None):
    """Raise JobError for an invalid alias or jid (those given)."""
    for msg in (alias_error(alias) if alias is not None else None,
                jid_error(jid) if jid is not None else None):
        if msg:
            raise JobError(msg)


def jid_prefix(jid):
    """The part of a jid that async_wrapper's command line carries ('j123' of 'j123.42');
    None for a job id of Mitogen's runner, whose processes carry none."""
    if not WRAPPER_JID_RE.match(jid):
        return None
    return jid.split('.', 1)[0]


def expand_async_dir(async_dir):
    """``async_dir`` as async_wrapper expands it (``~`` only; an absolute path as given)."""
    return os.path.expanduser(async_dir)


def runner_async_dir(environ=None):
    """The async dir by the rule of the runner on the host: ANSIBLE_ASYNC_DIR in the
    environment, else ``~/.ansible_async``. async_wrapper gets ANSIBLE_ASYNC_DIR from
    Ansible (the ``async_dir`` shell option); Mitogen for Ansible's runner only from the
    environment of the target's process, whatever the task's options say."""
    environ = os.environ if environ is None else environ
    return expand_async_dir(environ.get('ANSIBLE_ASYNC_DIR') or '~/.ansible_async')


def require_async_dir(params):
    """The async dir the action plugin passed in, expanded as async_wrapper expands
    ANSIBLE_ASYNC_DIR when it writes a job file: ``os.path.expanduser``, as the user the
    module runs as (the become user), so both agree by construction.

    Without one (under Mitogen for Ansible, whose runner ignores the ``async_dir``
    option, the action plugin passes none), the runner's own rule: ``runner_async_dir``."""
    if not params.get('_async_dir'):
        return runner_async_dir()
    return expand_async_dir(params['_async_dir'])


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
