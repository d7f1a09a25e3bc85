# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changes to the async dir: clean-up, names (alias links) and atomic writes.

Private to the collection. Kept apart from _async_jobs, which holds what a status
call needs, so that a status poll does not load (compile) this code on the host.
Runs on the target: Python 3.6 compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import errno
import json
import os

from ansible_collections.asyncjobs.named.plugins.module_utils._async_jobs import (
    ALIAS_PREFIX, RUNNING, JobError, _async_dir_names, _summary, alias_path, find_alias,
    inside_dir, job_path, job_status, link_target, ref_jid, ref_name, wrapper_liveness)


def links_to(async_dir, job_file):
    """Every alias link in ``async_dir`` (both forms) that points to ``job_file``."""
    job_file = os.path.normpath(job_file)
    found = []
    for name in _async_dir_names(async_dir):
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


def _remove(async_dir, path, check_mode):
    """Remove one entry of the async dir (a file or a link itself, never its target)."""
    if not inside_dir(async_dir, path):
        raise JobError('refusing to remove %s: it is outside the async dir %s' % (path, async_dir))
    if os.path.isdir(path) and not os.path.islink(path):
        raise JobError('refusing to remove %s: it is a directory' % path)
    if not check_mode:
        try:
            os.unlink(path)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            return False
    return True


def _exists(path):
    return os.path.lexists(path)


def cleanup(async_dir, mode, jid=None, alias=None, force=False, check_mode=False,
            liveness=wrapper_liveness):
    """Clean up a job.

    ``cleanup`` by alias removes the alias link only; by jid it removes the job
    file (as native). ``full_cleanup`` removes the job file, its ``.tmp`` and every
    alias link to it. Removing the name of a running job, or full_cleanup of a
    running job, needs ``force``. Returns the status result (before cleanup) plus
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
                       % (jid, name, what), **_summary(status))

    if mode == 'cleanup' and alias is not None:
        victims = [link] if link else []
    elif mode == 'cleanup':
        victims = [path]
    else:
        victims = []
        if path is not None:
            victims = [p for p in (path, path + '.tmp') if _exists(p)]
            victims.extend(links_to(async_dir, path))
            if link and link not in victims:
                victims.append(link)

    erased = [p for p in victims if _remove(async_dir, p, check_mode)]
    result = _summary(status)
    result['changed'] = bool(erased)
    # By jid, plain cleanup is native async_status's: ``erased`` is the path removed.
    result['erased'] = path if (mode == 'cleanup' and alias is None) else erased
    return result


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


def _temp_name(directory, base):
    return os.path.join(directory, '.%s.%s.tmp' % (base, binascii.hexlify(os.urandom(6)).decode()))


def _atomic_symlink(async_dir, target, link):
    """Point ``link`` at ``target`` with no moment where ``link`` is missing."""
    tmp = _temp_name(async_dir, os.path.basename(link))
    os.symlink(target, tmp)
    try:
        os.rename(tmp, link)
    except BaseException:
        os.unlink(tmp)
        raise


def atomic_write_json(path, data):
    """Write JSON to ``path`` through a temp file in the same dir and a rename."""
    tmp = _temp_name(os.path.dirname(path), os.path.basename(path))
    try:
        with open(tmp, 'w') as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
