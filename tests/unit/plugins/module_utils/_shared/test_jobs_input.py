# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_shared/jobs_input.py: the ``jobs`` option (job_refs,
ref_name, ref_jid) and durations
(parse_duration), on real job files under tmp_path."""

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import (
    errors, jobs_input as inputs)

J1, J2 = 'j111.1', 'j222.2'


def registered(jid, **extra):
    """A registered async result, as an async task with poll 0 returns it."""
    return dict(dict(ansible_job_id=jid, started=1, finished=0, results_file='/x/' + jid,
                     changed=True), **extra)


# --- job_refs: the jobs option -------------------------------------------------------------------

@pytest.mark.parametrize('jobs,refs', [
    ([J1, J2], [dict(jid=J1), dict(jid=J2)]),
    (['build', 'deploy.1'], [dict(alias='build'), dict(alias='deploy.1')]),
    ([registered(J2), registered(J1)], [dict(jid=J2), dict(jid=J1)]),
    (dict(results=[registered(J1), registered(J2)], changed=True), [dict(jid=J1), dict(jid=J2)]),
    ((J1,), [dict(jid=J1)]),
    ([dict(jid=J1), dict(alias='build'), dict(jid=J2, alias='x')],
     [dict(jid=J1), dict(alias='build'), dict(jid=J2, alias='x')]),
    ([dict(jid=J1, alias=None)], [dict(jid=J1)]),
    # an async_task result has a name too: it is waited for by its job id
    ([registered(J1, ansible_job_alias='build')], [dict(jid=J1)]),
])
def test_job_refs(jobs, refs):
    assert inputs.job_refs(jobs) == refs


@pytest.mark.parametrize('jobs,msg', [
    ([], 'jobs is empty: give at least one job'),
    (dict(results=[]), 'jobs is empty: give at least one job'),
    ('j1.2', "jobs must be a list (of job ids, names or registered async results) or a loop's "
             "registered result, not a string"),
    (42, "jobs must be a list (of job ids, names or registered async results) or a loop's "
         "registered result, not a number"),
    (dict(ansible_job_id=J1), "jobs must be a list (of job ids, names or registered async "
                              "results) or a loop's registered result, not a dict"),
    ([J1, 'build'], 'jobs[1] is a name, but jobs[0] is a job id: give the jobs in one form'),
    (['build', registered(J1)], 'jobs[1] is a registered async result, but jobs[0] is a name: give '
     'the jobs in one form'),
    ([dict(jid=J1), J2], 'jobs[1] is a job id, but jobs[0] is a dict with jid and/or alias: '
                         'give the jobs in one form'),
    ([J1, J2, J1], 'jobs[2] is the same job as jobs[0] (job id %s): give each job once' % J1),
    (['a', 'a'], 'jobs[1] is the same job as jobs[0] (name a): give each job once'),
    ([registered(J1), dict(skipped=True, changed=False)],
     'jobs[1] is not an async job result: it has no ansible_job_id (the task that registered '
     'it was skipped)'),
    ([dict(rc=0, changed=False)], 'jobs[0] is not an async job result: it has no ansible_job_id'),
    ([registered('j1.x')], 'jobs[0]: invalid jid \'j1.x\': a job id looks like "j123456789012.4242" '
     '(async_wrapper: optional "j", digits, ".", digits) or "66c6c6863f27278e" (Mitogen for Ansible: 16 hex digits)'),
    (['build', '../etc'], 'jobs[1]: invalid alias \'../etc\': use only letters, digits, "_", '
                          '"-" and ".", not starting with ".", at most 128 characters'),
    ([J1, None], 'jobs[1] is null, not a job id, a name or a registered async result'),
    ([J1, 3], 'jobs[1] is a number, not a job id, a name or a registered async result'),
    ([[J1]], 'jobs[0] is a list, not a job id, a name or a registered async result'),
    ([dict(jid=None, alias=None)], 'jobs[0] gives neither jid nor alias'),
])
def test_job_refs_refused(jobs, msg):
    with pytest.raises(errors.JobError) as exc:
        inputs.job_refs(jobs)
    assert exc.value.msg == msg


# --- parse_duration ------------------------------------------------------------------------------

@pytest.mark.parametrize('value,seconds', [
    ('30s', 30.0), ('15m', 900.0), ('12h', 43200.0), ('7d', 604800.0), ('90', 90.0),
    (' 2 h ', 7200.0), ('1.5m', 90.0), (0, 0.0), (45, 45.0), (2.5, 2.5), ('0', 0.0),
])
def test_parse_duration(value, seconds):
    assert inputs.parse_duration(value) == seconds


@pytest.mark.parametrize('value', ['7x', '-1', '', ' ', 'd', '1.5.2', '1e3', -1, -0.5, None, True,
                                   [], {}, '10 days'])
def test_parse_duration_refused(value):
    with pytest.raises(errors.JobError) as exc:
        inputs.parse_duration(value)
    assert exc.value.msg == ('older_than: invalid duration %r: give a number of seconds, or a '
                             'number followed by s, m, h or d (30s, 15m, 12h, 7d)' % (value,))
