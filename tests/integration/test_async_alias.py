# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""async_alias end to end (local connection): create, keep, refuse, force, move from a
finished/killed/gone holder, every way of giving the job, the clear failures, check mode,
and the legacy link form read by async_status_id."""

from __future__ import annotations

import os

from _jobs_lib import (
    assert_clean_failure, assert_failed_with, assert_flag, check_alias_return,
    check_status_return, new_reaper, return_spec, snapshot, write_json)

KILLED = 'j300000000011.1'
GONE = 'j300000000012.1'
NO_FILE = 'j999999999.1'
NOT_ASYNC = ('job: %s is not an async job result: it has no ansible_job_id%s; register the '
             'result of a task run with async and poll: 0')


def test_async_alias_cases(run_playbook, async_dir, ansible_version, installed_collection,
                           request):
    status_spec = return_spec(installed_collection, 'async_status_id')
    alias_spec = return_spec(installed_collection, 'async_alias')
    reaper = new_reaper(request)
    os.makedirs(async_dir)
    write_json(os.path.join(async_dir, KILLED), dict(
        started=True, finished=True, failed=True, killed=True, ansible_job_id=KILLED,
        msg='job %s was killed by asyncjobs.named.async_kill with SIGTERM' % KILLED))
    r = run_playbook('alias_cases.yml')
    d = r.dumps()
    j = d['jids']
    reaper.add(j['r1'], j['r2'])
    path = dict((k, os.path.join(async_dir, v)) for k, v in j.items())

    def link(alias):
        return os.path.join(async_dir, 'jid_' + alias)

    def ok(name, alias, jid, changed, previous=None):
        x = d[name]
        assert x['failed'] is False and x['changed'] is changed, (name, x)
        assert x['ansible_job_id'] == jid and x['ansible_job_alias'] == alias, (name, x)
        assert x['results_file'] == os.path.join(async_dir, jid), (name, x)
        assert x['alias_file'] == link(alias), (name, x)
        assert x.get('previous_job_id') == previous, (name, x)
        check_alias_return(alias_spec, x, moved=previous is not None)
        assert_clean_failure(x, name)

    ok('a_create', 'n1', j['r1'], True)
    ok('a_same', 'n1', j['r1'], False)
    ok('a_same_jid', 'n1', j['r1'], False)
    assert_failed_with(d['a_held'], "alias 'n1' is held by running job %s; refusing to point it at "
                       "job %s. Use force: true to take the name anyway." % (j['r1'], j['r2']))
    ok('a_check_force', 'n1', j['r2'], True, previous=j['r1'])
    assert d['n1_after_check'] == j['r1'], 'check mode moved the name'
    ok('a_force', 'n1', j['r2'], True, previous=j['r1'])
    ok('a_finished1', 'n2', j['f1'], True)
    ok('a_finished2', 'n2', j['f2'], True, previous=j['f1'])
    ok('a_killed_holder', 'n3', j['f1'], True, previous=KILLED)
    ok('a_gone_holder', 'n4', j['f1'], True, previous=GONE)
    ok('a_check_new', 'n5', j['f1'], True)
    assert d['n5_after_check'] is False, 'check mode created the name'

    assert_failed_with(d['a_unknown_var'], "job: no variable named 'nosuchvar' is defined for this "
                       "host; give the name of a variable registered by an async task (poll: 0), "
                       "or that result itself")
    assert_failed_with(d['a_not_async'], NOT_ASYNC % ('plainres', ''))
    assert_failed_with(d['a_not_async_dict'], NOT_ASYNC % ('the given result', ''))
    assert_failed_with(d['a_skipped'], NOT_ASYNC % (
        'skippedjob', ' (the task that registered it was skipped)'))
    assert_failed_with(d['a_no_file'], "job %s has no state file %s in this host's async dir; is "
                       "it an async job of this host and user?"
                       % (NO_FILE, os.path.join(async_dir, NO_FILE)))

    # the legacy form <jid>.jid_<alias> is read by async_status_id ...
    x = d['s_legacy']
    assert x['state'] == 'succeeded' and x['ansible_job_id'] == j['f1'], x
    assert x['ansible_job_alias'] == 'legacy' and x['results_file'] == path['f1'], x
    assert x['stdout'] == 'f1', x
    assert_flag(ansible_version, x, 'finished', True)
    check_status_return(status_spec, x, ansible_version, by='alias')
    # ... and a name held that way is moved like any other; the primary form wins after
    ok('a_over_legacy', 'legacy', j['f2'], True, previous=j['f1'])
    x = d['s_legacy2']
    assert x['ansible_job_id'] == j['f2'] and x['stdout'] == 'f2', x

    # on disk: relative links into the async dir, nothing for the failed or check-mode calls,
    # no temporary link left behind
    links = dict((name, target) for name, (kind, *rest) in snapshot(async_dir).items()
                 if kind == 'link' for target in rest)
    assert links == {
        'jid_n1': j['r2'],
        'jid_n2': j['f2'],
        'jid_n3': j['f1'],
        'jid_n4': j['f1'],
        'jid_legacy': j['f2'],
        '%s.jid_legacy' % j['f1']: j['f1'],
    }
    assert not [n for n in os.listdir(async_dir) if n.startswith('.')]
