# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changes to the async dir: the lock of a name, atomic writes, names (alias links),
clean-up and release. Every removal goes through ``remove_entry``.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import errno
import fcntl
import json
import os
import time

from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    async_dir_names, find_alias, inside_dir, legacy_alias_links, link_target, ref_jid)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import (
    ALIAS_PREFIX, alias_path, claim_path, job_path, lock_path, meta_path)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.entries import (
    entry_kind, meta_output_log, temp_base, temp_name)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.jobs_input import ref_name

from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import (
    job_status, summary)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import RUNNING
from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
    wrapper_liveness)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.trust import (
    check_async_dir, open_lock, open_new)


# --------------------------------------------------------------------------
# Writing and removing entries

def remove_entry(async_dir, path, check_mode):
    """Remove one entry of the async dir (a file or a link itself, never its target)."""
    if not inside_dir(async_dir, path):
        raise JobError('refusing to remove %s: it is outside the async dir %s' % (path, async_dir))
    if os.path.isdir(path) and not os.path.islink(path):
        raise JobError('refusing to remove %s: it is a directory' % path)
    if not check_mode:
        check_async_dir(async_dir)
        try:
            os.unlink(path)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            return False
    return True


def temp_files_of(async_dir, base):
    """Temp files that atomic writes of ``base`` (a job file, a name) left behind when the
    writer was killed between writing and renaming."""
    return sorted(os.path.join(async_dir, name) for name in async_dir_names(async_dir)
                  if temp_base(name) == base)


def _atomic_symlink(async_dir, target, link):
    """Point ``link`` at ``target`` with no moment where ``link`` is missing."""
    check_async_dir(async_dir)
    tmp = os.path.join(async_dir, temp_name(os.path.basename(link)))
    os.symlink(target, tmp)
    try:
        os.rename(tmp, link)
    except BaseException:
        os.unlink(tmp)
        raise


def atomic_write_json(path, data, durable=True):
    """Write JSON to ``path`` through a temp file in the same dir and a rename.

    ``durable`` also syncs the data to disk before the rename, for a record that must
    outlive a crash of the host (a job's result). Records that matter only while the host
    is up (a claim, a job's meta record; their readers take an unreadable one for a
    missing one) skip it, as async_wrapper does for its job files: on a busy host the
    sync costs more than the rest of a start."""
    check_async_dir(os.path.dirname(path), create=False)
    tmp = os.path.join(os.path.dirname(path), temp_name(os.path.basename(path)))
    # A new file, never through a link (a rename then replaces the entry, not a target).
    fd = open_new(tmp)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(data, f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_meta(async_dir, jid, alias, started, what=None, output=None, containment=None):
    """Record how async_task started job ``jid`` (``.<jid>.meta``): the name it was started
    under, when, what it runs, the file its output goes to (a name in the async dir) and
    how the job is contained (_host.containment)."""
    data = dict(alias=alias, started=started, what=what, output=output)
    if containment is not None:
        data['containment'] = containment
    atomic_write_json(meta_path(async_dir, jid), data, durable=False)


# --------------------------------------------------------------------------
# The lock of a name

class alias_lock:
    """An exclusive flock on ``.jid_<alias>.lock`` in the async dir, so the checks
    and changes of a name's claim are atomic across processes on this host.

    With ``timeout`` (seconds) it gives up with a JobError when another process holds
    the lock that long; without, it waits as long as it takes.
    """

    def __init__(self, async_dir, alias, timeout=None, clock=time.time, sleep=time.sleep):
        self.path = lock_path(async_dir, alias)
        self.async_dir = async_dir
        self.alias = alias
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.fd = None

    def __enter__(self):
        check_async_dir(self.async_dir)  # made 0700 when missing
        deadline = None if self.timeout is None else self.clock() + self.timeout
        while True:
            # Not inherited by children (the job's processes must not hold the lock), and
            # never through a planted link.
            self.fd = open_lock(self.path)
            try:
                if deadline is None:
                    fcntl.flock(self.fd, fcntl.LOCK_EX)
                else:
                    self._lock_until(deadline)
                if self._still_the_file():
                    return self
            except BaseException:
                os.close(self.fd)
                raise
            # async_prune removed the lock file (under this lock) while we waited for it:
            # the lock we hold is on a file nobody else will open; take the new one.
            os.close(self.fd)

    def _still_the_file(self):
        """True when the path still names the file we locked (see async_prune)."""
        try:
            st = os.stat(self.path)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return False
            raise
        mine = os.fstat(self.fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def _lock_until(self, deadline):
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except (IOError, OSError) as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if self.clock() >= deadline:
                raise JobError('another run has held the lock of the name %r (%s) for %d s; '
                               'try again later' % (self.alias, self.path, self.timeout),
                               ansible_job_alias=self.alias)
            self.sleep(0.05)

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock
        return False


def remove_lock_file(async_dir, alias):
    """Remove the lock file of ``alias`` when the name is unused: no name in either form and
    no claim. Done holding the lock, so that a run that waits for it sees the file gone and
    takes a new one (alias_lock checks the path still names the file it locked). Returns
    the path removed, or None."""
    path = lock_path(async_dir, alias)
    if not os.path.exists(path):
        return None
    with alias_lock(async_dir, alias):
        if os.path.lexists(alias_path(async_dir, alias)) or legacy_alias_links(async_dir, alias) \
                or os.path.lexists(claim_path(async_dir, alias)):
            return None
        remove_entry(async_dir, path, check_mode=False)
        return path


class nolock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --------------------------------------------------------------------------
# Names

def links_to(async_dir, job_file):
    """Every alias link in ``async_dir`` (both forms) that points to ``job_file``."""
    job_file = os.path.normpath(job_file)
    found = []
    for name in async_dir_names(async_dir):
        if not (name.startswith(ALIAS_PREFIX) or ('.' + ALIAS_PREFIX) in name):
            continue
        path = os.path.join(async_dir, name)
        target = link_target(async_dir, path)
        # Both are entries of the async dir: the same name is the same job file, even
        # when one path goes through a symlink to the dir and the other does not.
        if (target is not None and os.path.basename(target) == os.path.basename(job_file)
                and inside_dir(async_dir, target)):
            found.append(path)
    return sorted(found)


def set_alias(async_dir, alias, jid, force=False, check_mode=False, liveness=wrapper_liveness):
    """Name job ``jid`` ``alias``: atomically point ``jid_<alias>`` at its job file.

    A name held by a running job (another jid) is only taken with ``force``.
    Returns ``changed``, ``ansible_job_id``, ``ansible_job_alias``, ``results_file``,
    ``alias_file`` and, when the name was taken from another job, ``previous_job_id``.
    """
    path = job_path(async_dir, jid)
    link = alias_path(async_dir, alias)
    result = dict(changed=False, ansible_job_id=jid, ansible_job_alias=alias,
                  results_file=path, alias_file=link)
    if not os.path.exists(path):
        raise JobError('job %s has no state file %s in this host\'s async dir; is it an async '
                       'job of this host and user?' % (jid, path), **result)
    old_link, old_path = find_alias(async_dir, alias)
    old_jid = os.path.basename(old_path) if old_path is not None else None
    if old_link == link and old_jid == jid:
        return result
    if old_jid is not None and old_jid != jid:
        old = job_status(async_dir, alias=alias, liveness=liveness)
        if old['state'] == RUNNING and not force:
            raise JobError('alias %r is held by running job %s; refusing to point it at job %s. '
                           'Use force: true to take the name anyway.' % (alias, old_jid, jid),
                           **result)
        result['previous_job_id'] = old_jid
    result['changed'] = True
    if not check_mode:
        _atomic_symlink(async_dir, jid, link)
    return result


def names_job(async_dir, link, jid):
    """True when ``link`` is a link to job ``jid``'s file in the async dir."""
    target = link_target(async_dir, link)
    return (target is not None and os.path.basename(target) == jid
            and inside_dir(async_dir, target))


def free_name(async_dir, alias):
    """Drop the name: ``jid_<alias>`` and any link of the older form ``<jid>.jid_<alias>``,
    which would otherwise name the old job again once the new job's name is released."""
    for link in [alias_path(async_dir, alias)] + legacy_alias_links(async_dir, alias):
        if os.path.islink(link):
            remove_entry(async_dir, link, check_mode=False)


def release_plan(async_dir, jid, alias=None):
    """The links ``release`` would remove now (for the result that reports them), without
    removing anything."""
    path = os.path.normpath(job_path(async_dir, jid))
    if alias is not None:
        return [link for link in [alias_path(async_dir, alias)]
                + legacy_alias_links(async_dir, alias) if names_job(async_dir, link, jid)]
    return links_to(async_dir, path)


def release(async_dir, jid, alias=None):
    """Free the names of a finished job whose outcome has been returned.

    By alias: that name, only while it still points to ``jid`` (another run may
    have given it to a new job meanwhile). Without one: every name of the job.
    The job file stays; the job's output log goes (the result holds all of the output),
    its meta record stays. Returns the removed links.

    Called only once the outcome has left the host (``deliver_then_release``, and the
    modules' own ``_release``): a run whose connection died before its result was
    written keeps the name, so that the next run returns that outcome instead of
    starting the job a second time.
    """
    log = job_output_log(async_dir, jid)
    if log:
        remove_entry(async_dir, log, check_mode=False)
    with alias_lock(async_dir, alias) if alias else nolock():
        links = release_plan(async_dir, jid, alias)
        for link in links:
            remove_entry(async_dir, link, check_mode=False)
    return links


def send_header(out, key, value):
    """Write ``{key: value}`` as one JSON line to ``out`` and flush it: a line that leaves
    the host before a wait, so that the controller knows the job even when the connection
    dies during the wait (the controller takes it out of the output). A write that fails
    (the connection is gone) is ignored: the result cannot leave either."""
    try:
        out.write(json.dumps({key: value}) + '\n')
        out.flush()
    except (IOError, OSError, ValueError):
        pass


def deliver_then_release(result, out, releases):
    """Write ``result`` (JSON) to ``out`` and flush it; only when that succeeded (the
    connection still takes it), release each (async_dir, jid, alias) of ``releases``. A
    write that fails (a dropped connection: EPIPE) raises, and nothing is released."""
    out.write(json.dumps(result))
    out.flush()
    for async_dir, jid, alias in releases:
        release(async_dir, jid, alias)


# --------------------------------------------------------------------------
# Clean-up

def cleanup(async_dir, mode, jid=None, alias=None, force=False, check_mode=False,
            liveness=wrapper_liveness):
    """Clean up a job.

    ``cleanup`` by alias removes the alias link only; by jid it removes the job
    file (as native) and its files of ours (meta record, output log). ``full_cleanup``
    removes the job file, its temp files (native's ``.tmp``, and ours of an interrupted
    atomic write), its files of ours and every alias link to it. Removing the name of a
    running job, or full_cleanup of a running job, needs ``force``. Returns the status result (before cleanup) plus
    ``erased`` (list of removed paths) and ``changed``.
    """
    try:
        status = job_status(async_dir, jid=jid, alias=alias, liveness=liveness)
    except JobError as e:
        # "could not find job": plain cleanup by jid names the path it would have erased,
        # as native async_status does.
        if alias is None and mode == 'cleanup' and 'results_file' in e.result:
            e.result['erased'] = e.result.pop('results_file')
        raise
    jid = status['ansible_job_id']
    running = status['state'] == RUNNING
    if alias is not None:
        link, path = find_alias(async_dir, alias)
    else:
        link, path = None, job_path(async_dir, jid)

    if running and not force and (alias is not None or mode == 'full_cleanup'):
        what = 'its alias' if mode == 'cleanup' else 'its job file and aliases'
        name = (' (alias %r)' % alias) if alias is not None else ''
        raise JobError('job %s%s is still running; refusing to remove %s, because a re-run '
                       'would then start a duplicate. Use force: true to remove it anyway.'
                       % (jid, name, what), **summary(status))

    if mode == 'cleanup' and alias is not None:
        victims = [link] if link else []
    elif mode == 'cleanup':
        victims = [path] + job_sidecars(async_dir, jid)
    else:
        victims = []
        if path is not None:
            victims = [p for p in (path, path + '.tmp') if os.path.lexists(p)]
            victims.extend(temp_files_of(async_dir, os.path.basename(path)))
            victims.extend(job_sidecars(async_dir, os.path.basename(path)))
            victims.extend(links_to(async_dir, path))
            if link and link not in victims:
                victims.append(link)

    erased = [p for p in victims if remove_entry(async_dir, p, check_mode)]
    if mode == 'full_cleanup':
        erased.extend(_free_locks(async_dir, erased, check_mode))
    result = summary(status)
    result['changed'] = bool(erased)
    # By jid, plain cleanup is native async_status's: ``erased`` is the path removed.
    result['erased'] = path if (mode == 'cleanup' and alias is None) else erased
    return result


def job_output_log(async_dir, jid):
    """The path of job ``jid``'s output log when it exists (named by its meta record)."""
    try:
        with open(meta_path(async_dir, jid)) as f:
            log = meta_output_log(async_dir, json.load(f))
    except (IOError, OSError, ValueError):
        return None
    return log if log and os.path.lexists(log) else None


def job_sidecars(async_dir, jid):
    """The files of ours that belong to job ``jid``: async_task's record of its start
    (``.<jid>.meta``) and the output log that record names."""
    meta = meta_path(async_dir, jid)
    log = job_output_log(async_dir, jid)
    return [p for p in (meta, log) if p and os.path.lexists(p)]


def _free_locks(async_dir, erased, check_mode):
    """The lock files of the names among ``erased`` (removed links) that have nothing left:
    no name in either form, no claim. Removed unless in check mode."""
    freed = []
    for path in erased:
        kind, key = entry_kind(os.path.basename(path))
        if kind not in ('name', 'legacy_name'):
            continue
        alias = key if kind == 'name' else key[1]
        lock = lock_path(async_dir, alias)
        if lock in freed or not os.path.exists(lock):
            continue
        if check_mode:
            others = [p for p in [alias_path(async_dir, alias)] + legacy_alias_links(async_dir, alias)
                      if p not in erased]
            if not others and not os.path.lexists(claim_path(async_dir, alias)):
                freed.append(lock)
        elif remove_lock_file(async_dir, alias):
            freed.append(lock)
    return freed


def cleanup_many(async_dir, mode, refs, force=False, check_mode=False, liveness=wrapper_liveness):
    """``cleanup`` of every job of ``refs`` (job_refs), in order. All are tried in check mode
    first, so that a refusal or an unknown job (a JobError naming the entry) changes
    nothing; so does a job given twice."""
    seen = {}
    for i, ref in enumerate(refs):
        jid = ref_jid(async_dir, ref)
        if jid is not None and jid in seen:
            j = seen[jid]
            raise JobError('%s is the same job as %s: give each job once'
                           % (ref_name(i, ref), ref_name(j, refs[j])), ansible_job_id=jid)
        seen[jid] = i
    for dry in ([True] if check_mode else [True, False]):
        results = []
        for i, ref in enumerate(refs):
            try:
                result = cleanup(async_dir, mode, jid=ref.get('jid'),
                                 alias=None if 'jid' in ref else ref['alias'], force=force,
                                 check_mode=dry, liveness=liveness)
            except JobError as e:
                raise JobError('%s: %s' % (ref_name(i, ref), e.msg), **e.result)
            if 'jid' in ref and 'alias' in ref:
                result['ansible_job_alias'] = ref['alias']
            results.append(result)
    return results
