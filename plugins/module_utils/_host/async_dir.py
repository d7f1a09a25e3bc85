# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the async dir is and how it is read: its path on the host (expanded as the job's
runner expands it), its entries, and what a name (an alias link) leads to - never out of
the dir. Writes are in ``_host.writes``, the trust checks before them in ``_host.trust``.

Private to the collection. Runs on the target: Python 3.6 compatible.
"""

import errno
import os

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import (
    ALIAS_PREFIX, JID_RE, alias_path)


# --------------------------------------------------------------------------
# The async dir

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
# Reading its entries

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


def ref_jid(async_dir, ref):
    """The jid of a ref (job_refs): its own, or its name's (None for an absent name)."""
    if 'jid' in ref:
        return ref['jid']
    _link, path = find_alias(async_dir, ref['alias'])
    return os.path.basename(path) if path is not None else None
