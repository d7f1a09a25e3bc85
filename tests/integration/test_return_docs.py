# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every key a module (or its action plugin) returns is documented in its RETURN.

One playbook (return_cases.yml) runs every module in its documented cases: each mode and
state, success and each kind of failure. For each result, every key must appear in that
module's RETURN, except the keys Ansible adds itself and the keys of the job's own result
(a finished job's module result, read from its job file), which the modules pass on as
native async_status does. An undocumented key fails the test, naming it and the case.
"""

import json
import os

import pytest

from _async_task_lib import documented_return, wait_for, wrapper_processes

# Keys Ansible adds to task results itself.
ANSIBLE_KEYS = {'changed', 'failed', 'msg', 'invocation', 'warnings', 'deprecations', 'exception',
                'skipped', 'attempts', 'item', 'ansible_loop_var', '_ansible_no_log'}
MODULES = ('async_task', 'async_status_id', 'async_alias', 'async_wait', 'async_kill',
           'async_jobs_info', 'async_prune')


@pytest.fixture(scope='module')
def cases(request, playbook_once):
    """(results by case, job-result keys by jid): return_cases.yml, run once for the module."""
    r, async_dir, _dirs = playbook_once(request, 'return_cases.yml', gated=True)
    results = r.load('cases')
    for i, res in enumerate(r.load('status_states')):
        results['async_status_id.state%d' % i] = res
    job_keys = {}
    for name in os.listdir(async_dir):
        path = os.path.join(async_dir, name)
        if os.path.isfile(path) and not os.path.islink(path) and not name.startswith('.'):
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
            # A killed job's file is async_kill's record, not the job's own result: its keys
            # are ours, so RETURN must document them.
            job_keys[name] = set() if data.get('killed') else set(data)
    return results, job_keys


def _undocumented(result, doc, job_keys):
    own = set()
    for entry in [result] + list(result.get('results') or []):
        own |= job_keys.get(entry.get('ansible_job_id'), set())
    allowed = set(doc) | ANSIBLE_KEYS | own
    keys = set(result)
    for entry in result.get('results') or []:
        keys |= set(entry)  # an entry is what a call for that job alone returns
    missing = sorted(keys - allowed)
    # lists of dicts documented with their ``contains``: each entry's keys too
    for key, spec in doc.items():
        if 'contains' in spec and isinstance(result.get(key), list):
            for entry in result[key]:
                missing.extend('%s[].%s' % (key, k) for k in sorted(set(entry) - set(spec['contains'])))
    return missing


@pytest.mark.parametrize('module', MODULES)
def test_every_returned_key_is_documented(module, cases, installed_collection):
    results, job_keys = cases
    doc = documented_return(installed_collection, module)
    mine = dict((k, v) for k, v in results.items() if k.split('.')[0] == module)
    assert len(mine) >= 4, sorted(results)
    assert any(res.get('failed') for res in mine.values()), 'no failure case for %s' % module
    missing = dict((case, _undocumented(res, doc, job_keys)) for case, res in mine.items())
    missing = dict((case, keys) for case, keys in missing.items() if keys)
    assert not missing, 'returned but not in RETURN of %s: %s' % (module, missing)


def test_the_cases_ran(cases):
    """The cases are what their names say (so that the key check covers them)."""
    results, _job_keys = cases
    states = [results['async_status_id.state%d' % i]['state'] for i in range(6)]
    assert states == ['running', 'failed', 'timed_out', 'killed', 'orphaned', 'absent']
    assert results['async_task.start']['attached'] is False
    assert results['async_task.attach']['attached'] is True
    assert results['async_task.budget']['msg'] == 'Ran out of attempts.'
    assert results['async_task.started_unnamed']['job_started'] is True
    for case in ('async_status_id.killed_by_async_kill', 'async_wait.killed_by_async_kill'):
        assert (results[case]['state'], results[case]['signal']) == ('killed', 'SIGTERM'), case
    assert results['async_task.failed']['state'] == 'failed'
    assert results['async_alias.moved']['previous_job_id'] == results['async_task.failed']['ansible_job_id']
    assert results['async_wait.jobs']['failed'] is True and len(results['async_wait.jobs']['results']) == 2
    assert results['async_kill.killed']['state'] == 'killed'
    assert results['async_kill.absent']['state'] == 'absent'
    assert results['async_status_id.unknown_jid']['msg'] == 'could not find job'
    for case in ('async_task.bad_input', 'async_status_id.refused', 'async_alias.refused',
                 'async_wait.absent', 'async_kill.unknown_jid'):
        assert results[case]['failed'] is True, case
    jid = results['async_task.start']['ansible_job_id']
    wait_for(lambda: not wrapper_processes(jid), 30, 'the killed job to be gone')
