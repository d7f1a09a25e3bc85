# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jobs of Mitogen for Ansible's async runner (issue 10), run under the mitogen_linear
strategy whatever strategy the rest of the suite runs under (make integration-mitogen runs
the whole suite under Mitogen too):

- every state of a job Mitogen started, seen by job id and by name, the names given
  with async_alias from the registered async results; a runner whose pid another, later
  process has reads orphaned; kill of a job whose shell ignores SIGTERM;
- the design's Example 1 under Mitogen: it links the registered result's results_file,
  which Mitogen's runner does not return, so it stops at that task, clearly;
- the async dir rule: options Mitogen's runner does not honour fail the task before
  anything starts;
- async_task under mitogen_free (make integration-mitogen covers mitogen_linear): several
  controllers at once on one name start one job that each of them waits for; check mode
  starts nothing and attaches to the running job.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from _async_task_lib import background_starter, lines, mitogen_env, wait_for

pytest.importorskip('ansible_mitogen', reason='Mitogen for Ansible is not installed in this '
                    'venv (requirements/test.txt installs it into .venv)')

pytestmark = pytest.mark.mitogen

STRATEGY = 'mitogen_linear'
NAMES = ['m-ok', 'm-fail', 'm-timeout', 'm-run', 'm-kill', 'm-orphan']


def _job(async_dir, jid):
    with open(os.path.join(async_dir, jid)) as f:
        return json.load(f)


def _finished(async_dir, jid):
    try:
        data = _job(async_dir, jid)
    except (OSError, ValueError):
        return False
    return bool(data.get('finished')) or 'started' not in data


def test_every_state_by_job_id_and_by_name(run_playbook, async_dir, test_dirs):
    gate = test_dirs.root / 'gate'
    gate.write_text('')
    env = mitogen_env(STRATEGY, async_dir)
    later = None
    try:
        r = run_playbook('mitogen_states.yml', env=env,
                         extra_vars={'gate': str(gate), 'phase': 'start'})
        jids = [res['ansible_job_id'] for res in r.load('started')['results']]
        assert all(len(j) == 16 for j in jids), jids  # Mitogen's job ids
        named = r.load('named')['results']
        assert [n['ansible_job_alias'] for n in named] == NAMES
        assert [n['ansible_job_id'] for n in named] == jids and all(n['changed'] for n in named)
        ok, fail, timeout, run, kill, orphan = jids
        for jid in (ok, fail, timeout):
            wait_for(lambda j=jid: _finished(async_dir, j), 60, 'job %s to end' % jid)
        # the orphan's runner dies (as when the host's Python is killed)
        os.killpg(_job(async_dir, orphan)['pid'], signal.SIGKILL)
        # a dead runner whose pid a later process got: a job file from an hour ago with
        # the pid of a process started now
        later = subprocess.Popen(['sleep', '120'])
        recycled = 'deadbeef%08x' % (os.getpid() & 0xffffffff)
        path = os.path.join(async_dir, recycled)
        with open(path, 'w') as f:
            json.dump({'started': 1, 'finished': 0, 'pid': later.pid,
                       'ansible_job_id': recycled, 'data': ''}, f)
        os.utime(path, (time.time() - 3600, time.time() - 3600))

        r = run_playbook('mitogen_states.yml', env=env, extra_vars={
            'gate': str(gate), 'phase': 'look', 'jids': jids, 'recycled': recycled})
        by_name = dict((res['item'], res) for res in r.load('by_name')['results'])
        by_jid = dict((res['item'], res) for res in r.load('by_jid')['results'])
        expected = {'m-ok': 'succeeded', 'm-fail': 'failed', 'm-timeout': 'timed_out',
                    'm-run': 'running', 'm-kill': 'running', 'm-orphan': 'orphaned'}
        for name, jid in zip(NAMES, jids):
            for res in (by_name[name], by_jid[jid]):
                assert res['state'] == expected[name], (name, res)
                assert res['ansible_job_id'] == jid
        assert by_name['m-none']['state'] == 'absent'
        assert by_jid[timeout]['msg'] == 'Job reached maximum time limit of 2 seconds.'
        assert by_jid[fail]['rc'] == 3 and by_jid[fail]['stdout'] == 'bad'
        assert by_jid[run]['pid'] == _job(async_dir, run)['pid']
        assert by_jid[orphan]['pid_missing'] is True
        assert "Mitogen for Ansible's runner process is gone" in by_jid[orphan]['msg']
        assert by_jid[recycled]['state'] == 'orphaned'  # not alive through a recycled pid
        assert later.poll() is None  # and that process is left alone

        killed = r.load('killed')
        assert killed['changed'] is True and killed['state'] == 'killed'
        # the runner, its shell and the shell's background sleep (always there, unlike the
        # loop's short sleeps, between which the shell may have no child at all)
        assert len(killed['pids']) >= 3, killed
        assert r.load('after_kill')['state'] == 'killed'
        for pid in killed['pids']:
            assert not os.path.exists('/proc/%d' % pid) or 'Z' in open(
                '/proc/%d/stat' % pid).read().split(')')[-1].split()[:1]
        waited = r.load('waited')
        assert waited['state'] == 'succeeded' and waited['stdout'] == 'ok'
        listed = dict((j['ansible_job_id'], j) for j in r.load('listed')['jobs'])
        assert listed[run]['state'] == 'running' and listed[run]['aliases'] == ['m-run']
        assert listed[run]['pids'] == [_job(async_dir, run)['pid']]
        assert listed[timeout]['state'] == 'timed_out'
    finally:
        gate.unlink()
        if later is not None:
            later.kill()
            later.wait()
    wait_for(lambda: _finished(async_dir, run), 30, 'the running job to end')


def test_design_example1_needs_native_results_file(run_playbook, async_dir, out_dir):
    """The design's Example 1 names the job with a file link to the registered result's
    results_file, which Mitogen's runner does not return (it returns ansible_job_id,
    started, finished and changed): under Mitogen the play stops at that task. Examples 2
    and 3 (async_alias with the registered result, async_status_id by job id) run under
    Mitogen in make integration-mitogen."""
    r = run_playbook('status_example1.yml', env=mitogen_env(STRATEGY, async_dir), check=False,
                     extra_vars={'tag': 'm_'})
    assert r.rc != 0
    assert "has no attribute 'results_file'" in r.stdout, r.stdout
    assert 'TASK [Register task alias]' in r.stdout
    assert (out_dir / 'counter').read_text().splitlines() == ['ran']  # it started once
    assert not os.path.lexists(os.path.join(async_dir, 'jid_blah'))


@pytest.mark.parametrize('how', ['variable', 'task_environment'])
def test_async_dir_options_mitogen_ignores(run_playbook, async_dir, out_dir, how):
    env = mitogen_env(STRATEGY)  # no ANSIBLE_ASYNC_DIR: Mitogen uses ~/.ansible_async
    evars = {}
    if how == 'task_environment':
        env['ANSIBLE_ASYNC_DIR'] = async_dir
        evars['task_env'] = {'ANSIBLE_ASYNC_DIR': async_dir + '-other'}
    r = run_playbook('mitogen_async_dir.yml', env=env, extra_vars=evars)
    refused = r.load('refused')
    assert refused['failed'] is True
    if how == 'variable':
        assert refused['msg'].startswith(
            "the async dir is set to %r (ansible_async_dir or async_dir in ansible.cfg), which "
            "Mitogen for Ansible's async runner ignores" % async_dir), refused['msg']
    else:
        assert refused['msg'].startswith(
            "ANSIBLE_ASYNC_DIR is set in the task's environment, which Mitogen for Ansible's "
            "async runner does not read"), refused['msg']
    assert not (out_dir / 'counter').exists()  # nothing started
    assert not os.path.exists(async_dir + '-other')


@pytest.fixture
def start_playbook(request, ansible_playbook, installed_collection, session_dir, test_dirs):
    """ansible-playbook in the background: see _async_task_lib.background_starter."""
    return background_starter(request, ansible_playbook, installed_collection, session_dir,
                              test_dirs)


def test_mitogen_free_exactly_once_and_check_mode(start_playbook, run_playbook, async_dir,
                                                  test_dirs, out_dir):
    env = mitogen_env('mitogen_free', async_dir)
    counter = test_dirs.root / 'counter'
    n = 6
    runs = [start_playbook('task_once.yml', env=env, extra_vars={
        'counter': str(counter), 'tag': str(i), 'job_seconds': 6}) for i in range(n)]
    for run in runs:
        assert run.wait(300) == 0, run.describe()
    assert lines(counter) == ['run']
    results = [json.loads((out_dir / ('result-%d.json' % i)).read_text(encoding='utf-8'))
               for i in range(n)]
    jids = set(res['ansible_job_id'] for res in results)
    assert len(jids) == 1 and len(jids.pop()) == 16, results  # one job, Mitogen's
    assert sorted(res['attached'] for res in results) == [False] + [True] * (n - 1)
    for res in results:
        assert res['stdout'] == 'job-output' and res['state'] == 'succeeded'
    assert not [name for name in os.listdir(async_dir) if name.endswith('.claim')]

    checked = test_dirs.root / 'checked'
    r = run_playbook('task_check_mode.yml', env=env, extra_vars={'counter': str(checked)})
    d = r.dumps()
    assert d['would_start']['state'] == 'absent' and d['would_start']['changed'] is True
    jid = d['started']['ansible_job_id']
    assert len(jid) == 16
    assert d['would_attach']['attached'] is True and d['would_attach']['ansible_job_id'] == jid
    assert d['would_kill']['killed'] is False and d['still_running']['state'] == 'running'
    assert lines(checked) == ['run']  # only the real start ran the job
