# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to async_status_id and async_alias (local connection): exact messages, no
traceback, and nothing on disk changed; links pointing outside the async dir are refused,
never followed, never removed."""

from __future__ import annotations

import os

from _jobs_lib import (
    ALIAS_HELP, JID_HELP, assert_failed_with, file_state, items, snapshot, write_json)

JOB = 'j300000000021.1'  # a finished job the test writes itself
LONG = 'x' * 129


def bad_alias(alias):
    return 'invalid alias %r: use only %s' % (alias, ALIAS_HELP)


def bad_jid(jid):
    return 'invalid jid %r: %s' % (jid, JID_HELP)


EMPTY_ALIAS = 'alias must be a non-empty string of %s' % ALIAS_HELP
BAD_ALIASES = ['a/b', '..', '.', '.hidden', 'a b', LONG, 'abc\n', '../../etc/passwd', 'jid_x/../y']
BAD_JIDS = ['../../etc/passwd', 'abc', '', '123', 'j1.2/../j3.4', 'j1.2\n', '/etc/passwd']


def test_bad_input_changes_nothing(run_playbook, async_dir, test_dirs):
    d = async_dir
    os.makedirs(d)
    write_json(os.path.join(d, JOB), {'rc': 0, 'changed': True, 'stdout': 'ok'})
    os.symlink(JOB, os.path.join(d, 'jid_good'))
    outside = test_dirs.root / 'outside'
    outside.write_text('not a job\n')
    os.symlink('/etc/passwd', os.path.join(d, 'jid_evil'))
    os.symlink('../outside', os.path.join(d, 'jid_evil2'))
    os.symlink('/etc/passwd', os.path.join(d, 'j1.1.jid_evil3'))
    evil_to = {'evil': '/etc/passwd', 'evil2': str(outside), 'evil3': '/etc/passwd'}

    status_cases = []  # (call, expected msg)
    for alias in BAD_ALIASES:
        for mode in ('status', 'cleanup', 'full_cleanup'):
            status_cases.append((dict(alias=alias, mode=mode, force=True), bad_alias(alias)))
    status_cases.append((dict(alias=''), EMPTY_ALIAS))
    status_cases.append((dict(alias='', mode='full_cleanup'), EMPTY_ALIAS))
    for jid in BAD_JIDS:
        for mode in ('status', 'cleanup', 'full_cleanup'):
            status_cases.append((dict(jid=jid, mode=mode, force=True), bad_jid(jid)))
    status_cases += [
        (dict(jid=JOB, alias='good'), 'parameters are mutually exclusive: jid|alias|jobs'),
        (dict(jid=JOB, alias='good', mode='full_cleanup'), 'parameters are mutually exclusive: jid|alias|jobs'),
        (dict(), 'one of the following is required: jid, alias, jobs'),
        (dict(mode='full_cleanup', force=True), 'one of the following is required: jid, alias, jobs'),
        (dict(alias='good', mode='bogus'),
         'value of mode must be one of: status, cleanup, full_cleanup, got: bogus'),
        (dict(jid=JOB, mode='delete'),
         'value of mode must be one of: status, cleanup, full_cleanup, got: delete'),
    ]
    # the boundary of the 129-character case: 128 characters is a valid (absent) name
    status_cases.append((dict(alias='a' * 128, mode='full_cleanup'), None))
    for alias, target in sorted(evil_to.items()):
        msg = ('alias %r points outside the async dir %s (to %s); refusing to use it'
               % (alias, d, target))
        for mode in ('status', 'cleanup', 'full_cleanup'):
            for force in (False, True):
                status_cases.append((dict(alias=alias, mode=mode, force=force), msg))
        status_cases.append((dict(alias=alias, mode='full_cleanup', check=True), msg))

    alias_cases = []
    for alias in BAD_ALIASES:
        alias_cases.append((dict(alias=alias, jid=JOB), bad_alias(alias)))
    alias_cases.append((dict(alias='', jid=JOB), EMPTY_ALIAS))
    for jid in BAD_JIDS:
        alias_cases.append((dict(alias='ok', jid=jid), bad_jid(jid)))
        alias_cases.append((dict(alias='ok', job={'ansible_job_id': jid, 'started': 1}),
                            # an empty id is no id at all
                            bad_jid(jid) if jid else
                            'job: the given result is not an async job result: it has no '
                            'ansible_job_id; register the result of a task run with async '
                            'and poll: 0'))
    alias_cases += [
        (dict(alias='ok', jid=JOB, job={'ansible_job_id': JOB}),
         'parameters are mutually exclusive: job|jid'),
        (dict(alias='ok'), 'one of the following is required: job, jid'),
        (dict(jid=JOB), 'missing required arguments: alias'),
    ]
    for alias, target in sorted(evil_to.items()):
        msg = ('alias %r points outside the async dir %s (to %s); refusing to use it'
               % (alias, d, target))
        alias_cases.append((dict(alias=alias, jid=JOB), msg))
        alias_cases.append((dict(alias=alias, jid=JOB, force=True), msg))

    before = snapshot(d)
    passwd = file_state('/etc/passwd')
    outside_before = file_state(str(outside))
    r = run_playbook('status_calls.yml', extra_vars={
        'calls': [c for c, _m in status_cases], 'alias_calls': [c for c, _m in alias_cases]})
    assert snapshot(d) == before, 'bad input changed the async dir'
    assert file_state('/etc/passwd') == passwd
    assert file_state(str(outside)) == outside_before

    results = items(r.load('results'))
    assert len(results) == len(status_cases)
    for (call, msg), result in zip(status_cases, results):
        assert result.get('changed', False) is False, (call, result)
        if msg is None:  # the valid boundary case
            assert result['failed'] is False and result['state'] == 'absent', (call, result)
            assert result['ansible_job_alias'] == call['alias'], (call, result)
            continue
        assert_failed_with(result, msg, 'async_status_id %r' % call)
    results = items(r.load('alias_results'))
    assert len(results) == len(alias_cases)
    for (call, msg), result in zip(alias_cases, results):
        assert_failed_with(result, msg, 'async_alias %r' % call)
        assert result.get('changed', False) is False, (call, result)
