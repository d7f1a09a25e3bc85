# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trust in the async dir before anything of ours is written there, and opening files there
without following a link (the threat model: docs/docsite/rst/guide_safety.rst).

* ``check_async_dir``: the dir must belong to the user the module runs as (or root) and must
  not be writable by group or others, unless it is sticky (as /tmp) and belongs to that user
  or root - the rule ssh applies to ``~/.ssh`` (StrictModes). A dir we create is 0700, and
  each of its existing parents must pass the same rule first. Anything else is refused, with
  the path, its owner and mode and the fix, before anything is written.
* ``open_new`` and ``open_lock`` open with O_NOFOLLOW (and O_EXCL for a file that must be
  new): a link planted where we write is refused, and its target is never created, opened
  or truncated.

Reads are not checked: a status by job id reads native async's job files wherever they are.

Private to the collection. Runs on the target: Python 3.6 compatible.
"""

import errno
import os
import stat

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError

NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
CLOEXEC = getattr(os, 'O_CLOEXEC', 0)

_trusted = set()    # dirs checked in this process


def _user(uid):
    try:
        import pwd
        return '%s (uid %d)' % (pwd.getpwuid(uid).pw_name, uid)
    except (ImportError, KeyError):
        return 'uid %d' % uid


def unsafe(st, euid):
    """Why a directory with stat ``st`` is not safe to write in for ``euid``, or None."""
    if not stat.S_ISDIR(st.st_mode):
        return 'it is not a directory'
    if st.st_uid not in (euid, 0):
        return 'it belongs to %s' % _user(st.st_uid)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        return 'group or others may write in it (and it is not sticky)'
    return None


def _refuse(path, st, why, euid, created):
    mode = '%04o' % stat.S_IMODE(st.st_mode) if st is not None else '?'
    owner = _user(st.st_uid) if st is not None else '?'
    me = _user(euid)
    raise JobError(
        '%s %s is not safe to %s: %s (owner %s, mode %s). It must belong to %s, and not be '
        'writable by group or others unless it is sticky. Fix it (chown, chmod go-w) or set '
        'ansible_async_dir to a directory of %s. Nothing was written there, and nothing was '
        'started.' % ('the parent' if created else 'the async dir', path,
                      'create the async dir in' if created else 'write in', why, owner, mode,
                      me if euid == 0 else '%s or root' % me, me),
        async_dir_unsafe=True)


def check_async_dir(async_dir, create=True):
    """Refuse (JobError) to write in ``async_dir`` unless it is safe (module docstring);
    create it, 0700, when it is missing and its parents are safe (without ``create``, a
    missing dir is left to the write to fail on). Once per dir and process."""
    key = os.path.abspath(async_dir)
    if key in _trusted:
        return
    euid = os.geteuid()
    try:
        st = os.stat(key)
    except OSError as e:
        if e.errno != errno.ENOENT or not create:
            raise
        _check_parents(key, euid)
        try:
            os.makedirs(key, 0o700)
        except OSError as e2:
            if e2.errno != errno.EEXIST:
                raise
        st = os.stat(key)
    why = unsafe(st, euid)
    if why:
        _refuse(key, st, why, euid, created=False)
    _trusted.add(key)


def _check_parents(path, euid):
    """Every existing parent of ``path`` (the dir about to be created) is safe."""
    parent = os.path.dirname(path)
    while True:
        try:
            st = os.stat(parent)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            st = None
        if st is not None:
            why = unsafe(st, euid)
            if why:
                _refuse(parent, st, why, euid, created=True)
        up = os.path.dirname(parent)
        if up == parent:
            return
        parent = up


def forget():
    """Check every dir again (for tests)."""
    _trusted.clear()


def _planted(path, e):
    if e.errno in (errno.ELOOP, errno.EMLINK) or (e.errno == errno.EEXIST and os.path.islink(path)):
        return JobError('refusing to open %s: it is a symbolic link, which nothing of ours '
                        'creates there (planted by someone?); its target is left alone. '
                        'Remove the link.' % path, planted_link=path)
    return None


def open_new(path, mode=0o644, flags=os.O_WRONLY):
    """A file descriptor of a new file at ``path`` (O_CREAT, O_EXCL, O_NOFOLLOW)."""
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, mode)
    except OSError as e:
        raise _planted(path, e) or e


def open_lock(path):
    """A file descriptor of the lock file at ``path``, created 0600 if missing, never through
    a link."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW | CLOEXEC, 0o600)
    except OSError as e:
        raise _planted(path, e) or e
