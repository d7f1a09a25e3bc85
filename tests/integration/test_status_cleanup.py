# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""async_status_id clean-up modes (local connection): cleanup by alias removes the link
only, by jid the job file (as native); full_cleanup removes the job file, its .tmp and every
alias link to it in both forms (and the temp file of an interrupted atomic write) and
nothing else; a running job's name or files are kept unless force; check mode reports and
removes nothing; ``changed`` says whether anything was removed.

The jobs are set up and every call made once for the module (fixture ``cleaned``), in two
rounds: check mode and refusals, then the real clean-ups; each test checks one behaviour."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from _core import no_job_id
from _jobs_lib import (
    assert_clean_failure, assert_failed_with, assert_flag, check_status_return, items,
    new_reaper, return_spec, snapshot, write_json)

OTHER = 'j300000000009.1'  # a finished job the test writes itself
REFUSED = ('job %s%s is still running; refusing to remove %s, because a re-run would then '
           'start a duplicate. Use force: true to remove it anyway.')


# The temp file an atomic write of job A's file would leave if its writer were killed.
INTERRUPTED = '.%s.0123456789ab.tmp'


@pytest.fixture(scope='module')
def cleaned(request, module_runner, ansible_version, installed_collection):
    run_playbook, dirs = module_runner(request)
    d = str(dirs.async_dir)
    status_spec = return_spec(installed_collection, 'async_status_id')
    reaper = new_reaper(request)
    r = run_playbook('status_start_jobs.yml', extra_vars={
        # R and Q outlast the whole module on a loaded machine (a job cleaned up while it
        # runs writes its file again when it ends); the reaper kills them at the end
        'jobs': {'R': 'sleep 300', 'Q': 'sleep 300', 'A': 'echo a', 'B': 'echo b'},
        'aliases': {'r': 'R', 'r2': 'R', 'a1': 'A', 'b': 'B'},
        'wait_for': ['A', 'B']})
    jid = r.load('jids')
    reaper.add(jid['R'], jid['Q'])
    p = dict((k, os.path.join(d, j)) for k, j in jid.items())

    def at(name):
        return os.path.join(d, name)

    # the other link forms, made by hand: legacy relative, absolute, .tmp, other jobs' links
    os.symlink(jid['A'], at('%s.jid_a2' % jid['A']))
    os.symlink(p['A'], at('jid_a3'))
    with open(p['A'] + '.tmp', 'w', encoding='utf-8') as f:
        f.write('')
    write_json(at(INTERRUPTED % jid['A']), {'started': 1})
    os.symlink(jid['B'], at('%s.jid_b2' % jid['B']))
    write_json(at(OTHER), {'rc': 0, 'changed': True})
    os.symlink(OTHER, at('jid_other'))
    os.symlink(OTHER, at('jid_a1x'))
    os.symlink(jid['A'], at('unrelated'))  # not an alias form: never touched
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
    before_checks = snapshot(d)
    r = run_playbook('status_calls.yml', extra_vars={'calls': [c for _n, c in checks]})
    after_checks = snapshot(d)
    res = dict(zip([n for n, _c in checks], items(r.load('results'))))

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
    res.update(zip([n for n, _c in calls], items(r.load('results'))))
    v = ansible_version

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

    a_files = [p['A'], p['A'] + '.tmp', at(INTERRUPTED % A)]
    return SimpleNamespace(res=res, ok=ok, at=at, p=p, jid=jid, R=R, A=A, version=v,
                           names=[n for n, _c in checks + calls], a_files=a_files,
                           a_links=[at('jid_a1'), at('%s.jid_a2' % A), at('jid_a3')],
                           before_checks=before_checks, after_checks=after_checks,
                           left=snapshot(d))


def test_no_call_fails_with_a_traceback(cleaned):
    for name in cleaned.names:
        assert_clean_failure(cleaned.res[name], name)


def test_check_mode_and_refusals_change_nothing(cleaned):
    assert cleaned.after_checks == cleaned.before_checks


def test_check_mode_reports_what_would_go(cleaned):
    c, at = cleaned, cleaned.at
    c.ok('check_alias', [at('jid_a1')], 'alias', 'cleanup')
    c.ok('check_full_jid', c.a_files + c.a_links, 'jid', 'full_cleanup')
    c.ok('check_jid', c.p['A'], 'jid', 'cleanup')
    x = c.ok('check_full_legacy', c.a_files + c.a_links, 'alias', 'full_cleanup')
    assert x['ansible_job_id'] == c.A and x['state'] == 'succeeded', x
    x = c.ok('check_force', [at('jid_r')], 'alias', 'cleanup')
    assert x['state'] == 'running' and x['ansible_job_id'] == c.R, x


def test_running_jobs_names_and_files_are_refused(cleaned):
    c, R = cleaned, cleaned.R
    # check mode does not bypass the refusal
    assert_failed_with(c.res['refuse_full_check'],
                       REFUSED % (R, " (alias 'r2')", 'its job file and aliases'))
    assert_failed_with(c.res['refuse_alias'], REFUSED % (R, " (alias 'r')", 'its alias'))
    assert_failed_with(c.res['refuse_full_alias'],
                       REFUSED % (R, " (alias 'r')", 'its job file and aliases'))
    assert_failed_with(c.res['refuse_full_jid'], REFUSED % (R, '', 'its job file and aliases'))
    for name in ('refuse_alias', 'refuse_full_alias', 'refuse_full_jid', 'refuse_full_check'):
        x = c.res[name]
        assert x['changed'] is False and x['state'] == 'running', (name, x)
        assert x['ansible_job_id'] == R and x['results_file'] == c.p['R'], (name, x)
        assert_flag(c.version, x, 'started', True)
        assert_flag(c.version, x, 'finished', False)
        assert x['killed'] is False and x['pid_missing'] is False, (name, x)


def test_absent_names_are_not_an_error(cleaned):
    for name in ('absent_cleanup', 'absent_full'):
        x = cleaned.ok(name, [], 'alias', 'cleanup' if name == 'absent_cleanup' else 'full_cleanup',
                       changed=False)
        assert x['state'] == 'absent' and no_job_id(x), x


def test_cleanup_by_alias_removes_the_name_only(cleaned):
    c, at = cleaned, cleaned.at
    x = c.ok('alias', [at('jid_a1')], 'alias', 'cleanup')
    assert x['state'] == 'succeeded' and x['ansible_job_id'] == c.A, x
    x = c.ok('alias_again', [], 'alias', 'cleanup', changed=False)
    assert x['state'] == 'absent', x


def test_cleanup_by_jid_removes_the_job_file_as_native(cleaned):
    c = cleaned
    c.ok('jid', c.p['B'], 'jid', 'cleanup')
    # by jid, plain cleanup is native's: allowed even while the job runs
    x = c.ok('running_jid', c.p['Q'], 'jid', 'cleanup')
    assert x['state'] == 'running', x


def test_full_cleanup_removes_files_and_every_name(cleaned):
    c, at = cleaned, cleaned.at
    # the job file, native's .tmp, an interrupted atomic write's temp file, both link forms
    c.ok('full_absolute', c.a_files + [at('%s.jid_a2' % c.A), at('jid_a3')], 'alias',
         'full_cleanup')
    assert_failed_with(c.res['full_gone'], 'could not find job')
    # the job file is gone: full_cleanup by a dangling name removes the links to it
    x = c.ok('dangling_full_legacy', [at('jid_b'), at('%s.jid_b2' % c.jid['B'])], 'alias',
             'full_cleanup')
    assert x['state'] == 'absent' and x['ansible_job_id'] == c.jid['B'], x


def test_force_cleans_up_a_running_job(cleaned):
    c, at = cleaned, cleaned.at
    x = c.ok('force_alias', [at('jid_r')], 'alias', 'cleanup')
    assert x['state'] == 'running', x
    x = c.ok('force_full_jid', [c.p['R'], at('jid_r2')], 'jid', 'full_cleanup')
    assert x['state'] == 'running', x


def test_nothing_else_is_touched(cleaned):
    # what is left: the other job, its links, and the link that is not an alias
    assert cleaned.left == {
        OTHER: cleaned.before_checks[OTHER],
        'jid_a1x': ('link', OTHER),
        'jid_other': ('link', OTHER),
        'unrelated': ('link', cleaned.A),
    }
