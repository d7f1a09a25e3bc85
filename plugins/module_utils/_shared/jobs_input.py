# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option values beyond one name or job id: the ``jobs`` option (several jobs in one task)
and durations. Apart from _shared.names so that a status poll does not load (compile) it.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import re
from collections.abc import Mapping, Sequence

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import (
    JID_RE, alias_error, jid_error)

DURATION_RE = re.compile(r'^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*\Z')
UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400}
DURATION_HELP = ('give a number of seconds, or a number followed by s, m, h or d '
                 '(30s, 15m, 12h, 7d)')


# --------------------------------------------------------------------------
# Durations

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
