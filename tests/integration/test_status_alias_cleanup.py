# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""async_status_id clean-up modes (local connection): cleanup by alias removes the link
only, by jid the job file (as native); full_cleanup removes the job file, its .tmp and every
alias link to it in both forms and nothing else; a running job's name or files are kept
unless force; check mode reports and removes nothing; ``changed`` says whether anything was
removed."""

from __future__ import annotations

import os

from _status_alias_lib import (
    assert_clean_failure, assert_failed_with, assert_flag, check_status_return, items,
    new_reaper, return_spec, snapshot, write_json)

OTHER = 'j300000000009.1'  # a finished job the test writes itself
REFUSED = ('job %s%s is still running; refusing to remove %s, because a re-run would then '
           'start a duplicate. Use force: true to remove it anyway.')


def test_cleanup_modes(run_playbook, async_dir, ansible_version, installed_collection, request):
    status_spec = return_spec(installed_collection, 'async_status_id')
    reaper = new_reaper(request)
    r = run_playbook('status_start_jobs.yml', extra_vars={
        'jobs': {'R': 'sleep 60', 'Q': 'sleep 60', 'A': 'echo a', 'B': 'echo b'},
        'aliases': {'r': 'R', 'r2': 'R', 'a1': 'A', 'b': 'B'},
        'wait_for': ['A', 'B']})
    jid = r.load('jids')
    reaper.add(jid['R'], jid['Q'])
    p = dict((k, os.path.join(async_dir, j)) for k, j in jid.items())
    d = async_dir

    def at(name):
        return os.path.join(d, name)

    # the other link forms, made by hand: legacy relative, absolute, .tmp, other jobs' links
    os.symlink(jid['A'], at('%s.jid_a2' % jid['A']))
    os.symlink(p['A'], at('jid_a3'))
    with open(p['A'] + '.tmp', 'w', encoding='utf-8') as f:
        f.write('')
    os.symlink(jid['B'], at('%s.jid_b2' % jid['B']))
    write_json(at(OTHER), {'rc': 0, 'changed': True})
    os.symlink(OTHER, at('jid_other'))
    os.symlink(OTHER, at('jid_a1x'))
    os.symlink(jid['A'], at('unrelated'))  # not an alias form: never touched

    v = ansible_version
    R, A = jid['R'], jid['A']

    # --- 1: check mode and refusals: nothing may change on disk ------------------------------
    checks = [
        ('check_alias', dict(alias='a1', mode='cleanup', check=True)),
        ('check_full_jid', dict(jid=A, mode='full_cleanup', check=True)),
        ('check_jid', dict(jid=A, mode='cleanup', check=True)),
        ('check_full_legacy', dict(alias='a2', mode='full_cleanup', check=True)),
        ('check_force', dict(alias='r', mode='cleanup', force=True, check=True)),
        ('refuse_alias', dict(alias='r', mode='cleanup')),
        ('refuse_full_alias', dict(alias='r', mode='full_cleanup')),
        ('refuse_full_jid', dict(jid=R, mode='full_cleanup')),
        ('refuse_full_check', dict(alias='r2', mode='full_cleanup', check=True)),
        ('absent_cleanup', dict(alias='nosuch', mode='cleanup')),
        ('absent_full', dict(alias='nosuch', mode='full_cleanup')),
    ]
    before = snapshot(d)
    r = run_playbook('status_calls.yml', extra_vars={'calls': [c for _n, c in checks]})
    assert snapshot(d) == before, 'check mode or a refused clean-up changed the async dir'
    res = dict(zip([n for n, _c in checks], items(r.load('results'))))
    for name, _call in checks:
        assert_clean_failure(res[name], name)

    def ok(name, erased, by, mode, changed=True):
        x = res[name]
        assert x['failed'] is False, (name, x)
        assert x['changed'] is changed, (name, x)
        if isinstance(erased, list):
            assert sorted(x['erased']) == sorted(erased), (name, x)
        else:
            assert x['erased'] == erased, (name, x)
        check_status_return(status_spec, x, v, by=by, mode=mode)
        return x

    a_links = [at('jid_a1'), at('%s.jid_a2' % A), at('jid_a3')]
    ok('check_alias', [at('jid_a1')], 'alias', 'cleanup')
    ok('check_full_jid', [p['A'], p['A'] + '.tmp'] + a_links, 'jid', 'full_cleanup')
    ok('check_jid', p['A'], 'jid', 'cleanup')
    x = ok('check_full_legacy', [p['A'], p['A'] + '.tmp'] + a_links, 'alias', 'full_cleanup')
    assert x['ansible_job_id'] == A and x['state'] == 'succeeded', x
    x = ok('check_force', [at('jid_r')], 'alias', 'cleanup')
    assert x['state'] == 'running' and x['ansible_job_id'] == R, x
    # check mode does not bypass the refusal
    assert_failed_with(res['refuse_full_check'],
                       REFUSED % (R, " (alias 'r2')", 'its job file and aliases'))
    for name in ('absent_cleanup', 'absent_full'):
        x = ok(name, [], 'alias', 'cleanup' if name == 'absent_cleanup' else 'full_cleanup',
               changed=False)
        assert x['state'] == 'absent' and x['ansible_job_id'] is None, x

    assert_failed_with(res['refuse_alias'], REFUSED % (R, " (alias 'r')", 'its alias'))
    assert_failed_with(res['refuse_full_alias'], REFUSED % (R, " (alias 'r')", 'its job file and aliases'))
    assert_failed_with(res['refuse_full_jid'], REFUSED % (R, '', 'its job file and aliases'))
    for name in ('refuse_alias', 'refuse_full_alias', 'refuse_full_jid', 'refuse_full_check'):
        x = res[name]
        assert x['changed'] is False and x['state'] == 'running', (name, x)
        assert x['ansible_job_id'] == R and x['results_file'] == p['R'], (name, x)
        assert_flag(v, x, 'started', True)
        assert_flag(v, x, 'finished', False)
        assert x['killed'] is False and x['pid_missing'] is False, (name, x)

    # --- 2: the real thing ---------------------------------------------------------------------
    calls = [
        ('alias', dict(alias='a1', mode='cleanup')),
        ('alias_again', dict(alias='a1', mode='cleanup')),
        ('force_alias', dict(alias='r', mode='cleanup', force=True)),
        ('full_absolute', dict(alias='a3', mode='full_cleanup')),
        ('jid', dict(jid=jid['B'], mode='cleanup')),
        ('running_jid', dict(jid=jid['Q'], mode='cleanup')),
        ('full_gone', dict(jid=A, mode='full_cleanup')),
        ('force_full_jid', dict(jid=R, mode='full_cleanup', force=True)),
        ('dangling_full_legacy', dict(alias='b2', mode='full_cleanup')),
    ]
    r = run_playbook('status_calls.yml', extra_vars={'calls': [c for _n, c in calls]})
    res = dict(zip([n for n, _c in calls], items(r.load('results'))))
    for name, _call in calls:
        assert_clean_failure(res[name], name)

    x = ok('alias', [at('jid_a1')], 'alias', 'cleanup')
    assert x['state'] == 'succeeded' and x['ansible_job_id'] == A, x
    x = ok('alias_again', [], 'alias', 'cleanup', changed=False)
    assert x['state'] == 'absent', x
    x = ok('force_alias', [at('jid_r')], 'alias', 'cleanup')
    assert x['state'] == 'running', x
    ok('full_absolute', [p['A'], p['A'] + '.tmp', at('%s.jid_a2' % A), at('jid_a3')],
       'alias', 'full_cleanup')
    ok('jid', p['B'], 'jid', 'cleanup')
    # by jid, plain cleanup is native's: allowed even while the job runs
    x = ok('running_jid', p['Q'], 'jid', 'cleanup')
    assert x['state'] == 'running', x
    assert_failed_with(res['full_gone'], 'could not find job')
    x = ok('force_full_jid', [p['R'], at('jid_r2')], 'jid', 'full_cleanup')
    assert x['state'] == 'running', x
    # the job file is gone: full_cleanup by a dangling name removes the links to it
    x = ok('dangling_full_legacy', [at('jid_b'), at('%s.jid_b2' % jid['B'])], 'alias', 'full_cleanup')
    assert x['state'] == 'absent' and x['ansible_job_id'] == jid['B'], x

    # what is left: the other job, its links, and the link that is not an alias
    assert snapshot(d) == {
        OTHER: before[OTHER],
        'jid_a1x': ('link', OTHER),
        'jid_other': ('link', OTHER),
        'unrelated': ('link', A),
    }
