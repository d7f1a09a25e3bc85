# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""async_status_id on jobs in every state (local connection): running, succeeded,
failed, timed_out, killed, orphaned (real wrapper SIGKILLed, empty or unparsable job file
with no wrapper), empty/unparsable file with a live wrapper, dangling and missing names.
Every result is also checked against the module's RETURN documentation.

The jobs are started and every status call made once, for the whole module (fixture
``states``); each test checks one state."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from _core import NON_ZERO_RC_MSG, no_job_id
from _jobs_lib import (
    ORPHAN_MSG, WHY_EMPTY, WHY_GONE, WHY_JSON, assert_clean_failure, assert_failed_with,
    assert_flag, check_status_return, items, kill_job, new_reaper, return_spec, snapshot,
    write_json)

# Job files the test writes itself; no real job has these prefixes.
KILLED = 'j300000000001.1'
EMPTY_DEAD = 'j300000000002.1'
GARBAGE_DEAD = 'j300000000003.1'
EMPTY_ALIVE = 'j300000000004.1'
GARBAGE_ALIVE = 'j300000000005.1'
KILLED_MSG = 'job %s was killed by asyncjobs.named.async_kill with SIGTERM' % KILLED
GARBAGE = '{"started": 1, "finished": 0, "ansible_jo'

# Every state, in the version matrix too (`make matrix`). Every state here is made with
# async_wrapper's processes (watcher, runner) by hand; test_mitogen.py makes every state
# of a job of Mitogen's runner.
pytestmark = [pytest.mark.matrix,
              pytest.mark.wrapper_only('states made from async_wrapper\'s processes; '
                                       'test_mitogen.py covers Mitogen\'s')]


@pytest.fixture(scope='module')
def states(request, module_runner, ansible_version, installed_collection):
    """Every job and status call of this module, run once: a namespace with ``res`` (the
    results by call name), ``jid``, ``path``, ``before``/``after`` (the async dir around
    the status calls) and a ``check(name, state, ...)`` of what every result shares."""
    run_playbook, dirs = module_runner(request)
    async_dir = str(dirs.async_dir)
    status_spec = return_spec(installed_collection, 'async_status_id')
    reaper = new_reaper(request)
    r = run_playbook('status_states_start.yml')
    jobs = r.load('jobs')
    jid = dict((name, job['ansible_job_id']) for name, job in jobs.items())
    reaper.add(jid['running'], jid['orphan'], jid['timed_out'])
    path = dict((name, os.path.join(async_dir, j)) for name, j in jid.items())

    # orphan: SIGKILL the watcher, the runner and the module (the runner's process group)
    killed = kill_job(jid['orphan'])
    assert len(killed) >= 2, 'expected the watcher and the runner of %s, found %s' % (jid['orphan'], killed)
    with open(path['orphan'], encoding='utf-8') as f:
        assert '"started"' in f.read()  # its file still says started, never finished

    write_json(os.path.join(async_dir, KILLED), dict(
        started=True, finished=True, failed=True, killed=True, ansible_job_id=KILLED,
        msg=KILLED_MSG, signal='SIGTERM'))
    for j, content in ((EMPTY_DEAD, ''), (GARBAGE_DEAD, GARBAGE),
                       (EMPTY_ALIVE, ''), (GARBAGE_ALIVE, GARBAGE)):
        with open(os.path.join(async_dir, j), 'w', encoding='utf-8') as f:
            f.write(content)
    os.symlink(KILLED, os.path.join(async_dir, 'jid_killed'))
    reaper.spawn_fake_wrapper(EMPTY_ALIVE.split('.', maxsplit=1)[0])
    reaper.spawn_fake_wrapper(GARBAGE_ALIVE.split('.', maxsplit=1)[0])

    calls = [
        ('running_alias', 'alias', dict(alias='running')),
        ('running_jid', 'jid', dict(jid=jid['running'])),
        ('running_check', 'alias', dict(alias='running', check=True)),
        ('orphan_alias', 'alias', dict(alias='orphan')),
        ('orphan_jid', 'jid', dict(jid=jid['orphan'])),
        ('succeeded', 'jid', dict(jid=jid['succeeded'])),
        ('failed', 'jid', dict(jid=jid['failed'])),
        ('killed_jid', 'jid', dict(jid=KILLED)),
        ('killed_alias', 'alias', dict(alias='killed')),
        ('empty_dead', 'jid', dict(jid=EMPTY_DEAD)),
        ('garbage_dead', 'jid', dict(jid=GARBAGE_DEAD)),
        ('empty_alive', 'jid', dict(jid=EMPTY_ALIVE)),
        ('garbage_alive', 'jid', dict(jid=GARBAGE_ALIVE)),
        ('dangling', 'alias', dict(alias='dangling')),
        ('missing', 'alias', dict(alias='no-such-job')),
    ]
    dangling_link = os.readlink(os.path.join(async_dir, 'jid_dangling'))
    dangling_file = os.path.exists(path['dangling'])
    before = snapshot(async_dir)
    r = run_playbook('status_calls.yml', extra_vars={
        'calls': [c for _n, _b, c in calls], 'timed_out_jid': jid['timed_out']})
    after = snapshot(async_dir)
    # (the timed-out job's own file may be written meanwhile)
    for name in (jid['timed_out'], jid['timed_out'] + '.tmp'):
        before.pop(name, None)
        after.pop(name, None)

    res = dict(zip([n for n, _b, _c in calls], items(r.load('results'))))
    by = dict((n, b) for n, b, _c in calls)
    res['timed_out'] = r.load('timed_out')
    by['timed_out'] = 'jid'
    calls_alias = dict((n, c.get('alias')) for n, _b, c in calls)
    v = ansible_version

    def check(name, state, started, finished, job, failed, killed=False, pid_missing=False):
        x = res[name]
        assert x['state'] == state, (name, x)
        assert_flag(v, x, 'started', started)
        assert_flag(v, x, 'finished', finished)
        assert x['killed'] is killed and x['pid_missing'] is pid_missing, (name, x)
        assert x['failed'] is failed, (name, x)
        assert x['ansible_job_id'] == job, (name, x)
        assert x['results_file'] == (os.path.join(async_dir, job) if job else None), (name, x)
        if by[name] == 'alias':
            assert x['ansible_job_alias'] == calls_alias[name], (name, x)
        else:
            assert 'ansible_job_alias' not in x, (name, x)
        # only the shell jobs' own results say changed: status itself changes nothing
        assert x['changed'] is (name in ('succeeded', 'failed')), (name, x)
        check_status_return(status_spec, x, v, by=by[name])
        assert_clean_failure(x, name)
        return x

    return SimpleNamespace(res=res, jid=jid, path=path, before=before, after=after,
                           check=check, async_dir=async_dir, spec=status_spec, version=v,
                           dangling_link=dangling_link, dangling_file=dangling_file)


def test_status_changes_nothing(states):
    assert states.after == states.before


def test_running(states):
    for name in ('running_alias', 'running_jid', 'running_check'):
        x = states.check(name, 'running', True, False, states.jid['running'], failed=False)
        assert 'msg' not in x and x['stdout'] == '' and x['stdout_lines'] == [], x


def test_orphaned_wrapper_killed(states):
    job = states.jid['orphan']
    for name in ('orphan_alias', 'orphan_jid'):
        x = states.check(name, 'orphaned', True, True, job, failed=True, pid_missing=True)
        assert_failed_with(x, ORPHAN_MSG % (job, WHY_GONE), name)


def test_succeeded(states):
    x = states.check('succeeded', 'succeeded', True, True, states.jid['succeeded'], failed=False)
    assert x['stdout'] == 'ok' and x['rc'] == 0 and x['stdout_lines'] == ['ok'], x


def test_failed(states):
    x = states.check('failed', 'failed', True, True, states.jid['failed'], failed=True)
    assert_failed_with(x, NON_ZERO_RC_MSG, 'failed')
    assert x['rc'] == 3 and x['stdout'] == 'out' and x['stderr'] == 'oops', x
    assert x['stderr_lines'] == ['oops'], x


def test_timed_out(states):
    x = states.check('timed_out', 'timed_out', True, True, states.jid['timed_out'], failed=True)
    assert_failed_with(x, 'Timeout exceeded', 'timed_out')
    assert isinstance(x['child_pid'], int) and x['child_pid'] > 0, x


def test_killed(states):
    for name in ('killed_jid', 'killed_alias'):
        x = states.check(name, 'killed', True, True, KILLED, failed=True, killed=True)
        assert_failed_with(x, KILLED_MSG, name)
        assert x['signal'] == 'SIGTERM', x


def test_empty_or_unparsable_file_without_wrapper_is_orphaned(states):
    for name, why in (('empty_dead', WHY_EMPTY), ('garbage_dead', WHY_JSON)):
        job = EMPTY_DEAD if name == 'empty_dead' else GARBAGE_DEAD
        x = states.check(name, 'orphaned', True, True, job, failed=True, pid_missing=True)
        assert_failed_with(x, ORPHAN_MSG % (job, why), name)


def test_empty_or_unparsable_file_with_wrapper_is_running(states):
    # an empty or half-written file while the wrapper lives: running, as native says
    states.check('empty_alive', 'running', True, False, EMPTY_ALIVE, failed=False)
    states.check('garbage_alive', 'running', True, False, GARBAGE_ALIVE, failed=False)


def test_dangling_name_is_absent(states):
    """A name whose job file is gone: absent, not an error, and status removes nothing."""
    assert states.dangling_link == states.jid['dangling'] and not states.dangling_file
    x = states.res['dangling']
    v = states.version
    assert x['state'] == 'absent' and x['failed'] is False and x['changed'] is False, x
    assert_flag(v, x, 'started', False)
    assert_flag(v, x, 'finished', False)
    assert x['killed'] is False and x['pid_missing'] is False, x
    assert x['ansible_job_id'] == states.jid['dangling']
    assert x['results_file'] == states.path['dangling'], x
    assert x['ansible_job_alias'] == 'dangling', x
    check_status_return(states.spec, x, v, by='alias')
    assert os.path.islink(os.path.join(states.async_dir, 'jid_dangling'))


def test_missing_name_is_absent(states):
    x = states.res['missing']
    v = states.version
    assert x['state'] == 'absent' and x['failed'] is False and x['changed'] is False, x
    assert_flag(v, x, 'started', False)
    assert_flag(v, x, 'finished', False)
    assert no_job_id(x) and x['results_file'] is None, x
    assert x['ansible_job_alias'] == 'no-such-job', x
    check_status_return(states.spec, x, v, by='alias')
