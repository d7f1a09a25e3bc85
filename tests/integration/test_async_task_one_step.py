# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""async_task's one-step start (plugins/plugin_utils/_start.py) with real ansible-playbook runs.

* What each task costs on the wire: remote commands (``EXEC`` lines at -vvv) and file
  transfers (``PUT``) per task, ours beside native's in the same run, with pipelining on,
  locally and over SSH with become to an unprivileged user.
* A run that died between the claim and the naming: the next run finds the job by the
  claim's jid prefix (running, or finished since) and starts nothing; a claim whose job
  never started is dropped and the job starts.
* 20 controllers at once on one name, locally and over SSH: exactly one job.
* A naming that fails after the job started: the task fails, and a re-run attaches to
  the job at once (the claim records it); the job ran once.
* The attach path leaves no remote tmp dir behind (the module removes the one made for
  the job it did not start; with an unprivileged become user the controller does).
"""

import json
import os
import pwd
import re
import shutil
import tempfile
import time
import uuid

import pytest

from _async_task_lib import (STRATEGY, alias_target, background_starter, job_file, lines,
                             wait_for, wrapper_processes)
from _jobs_lib import kill_job


@pytest.fixture
def start_playbook(request, ansible_playbook, installed_collection, session_dir, test_dirs):
    """ansible-playbook in the background: see _async_task_lib.background_starter."""
    return background_starter(request, ansible_playbook, installed_collection, session_dir,
                              test_dirs)


TASK_RE = re.compile(r'^TASK \[(.*)\] \*+$')
EXEC_RE = re.compile(r'^<[^>]+> (?:SSH: )?EXEC (?!sftp |scp )')
PUT_RE = re.compile(r'^<[^>]+> PUT ')
# The start runner: async_wrapper's interpreter with -S (no other command of a task runs one).
OURS_RE = re.compile(r""" -S(?: -c \S*import sys;exec\(sys\.stdin\.buffer\.read\(\)\)\S*|"""
                     r""" \S*asyncjobs_named_start\.py [^ ]+)?(?: &&|'| *$)""")


def wire_costs(stdout):
    """{task name: (remote commands, file transfers, one-step start commands)} of a -vvv run."""
    costs = {}
    task = None
    for line in stdout.splitlines():
        m = TASK_RE.match(line)
        if m:
            task = m.group(1)
            costs.setdefault(task, [0, 0, 0])
        elif task is not None and EXEC_RE.match(line):
            costs[task][0] += 1
            costs[task][2] += bool(OURS_RE.search(line))
        elif task is not None and PUT_RE.match(line):
            costs[task][1] += 1
    return dict((k, tuple(v)) for k, v in costs.items() if k.startswith('C: '))


@pytest.mark.wrapper_only('counts the remote commands of the one-step start, which Mitogen '
                          'replaces with its own runner and transport')
@pytest.mark.parametrize('where,pipelining', [
    ('local', True), ('ssh', True), ('local', False), ('ssh', False)])
def test_remote_commands_per_task(request, where, pipelining, run_playbook, test_dirs):
    """With pipelining on, a start (or an attach, or a start whose job ends in the first wait
    slice) is one remote command and no transfer: the module, async_wrapper and the start
    runner travel on its stdin, and the runner makes the job's tmp dir itself, as the user
    it runs as (the unprivileged become user over SSH: no ACL to set). Native needs four
    commands and two transfers. Every other task is one command, where native async_status
    needs two for a ``~`` async dir.

    Without pipelining, the transport's own steps: the tmp dir, the files and the runner
    transferred; two commands less than native's (no ``echo ~`` for remote_tmp, the
    permission fix-up on the host), one less with an unprivileged become user (Ansible's
    fix-up runs; the attach path then also removes the job's tmp dir)."""
    gate = test_dirs.root / 'gate'
    gate.write_text('', encoding='utf-8')
    os.chmod(str(gate), 0o644)
    # A ~ async dir (as the default ~/.ansible_async), of our own, under the job user's home.
    name = '.ajit-%s' % uuid.uuid4().hex[:10]
    evars = {'gate': str(gate), 'ansible_async_dir': '~/' + name}
    if where == 'ssh':
        target = request.getfixturevalue('ssh_target')
        home = target.home(target.job_user)
        evars['as_job_user'] = True
    else:
        home = os.path.expanduser('~')
    async_dir = os.path.join(home, name)
    request.addfinalizer(lambda: shutil.rmtree(async_dir, ignore_errors=True))
    try:
        r = run_playbook('task_remote_commands.yml', inventory=where, extra_vars=evars,
                         args=('-vvv',), env={'ANSIBLE_PIPELINING': str(pipelining)})
    finally:
        gate.unlink()
    costs = wire_costs(r.stdout)
    native_start = costs['C: native start']
    start = costs['C: async_task start']
    attach = costs['C: async_task attach']
    quick = costs['C: async_task start and wait (ends within the first slice)']
    report = json.dumps(costs, indent=1, sort_keys=True)
    print(report)

    # Native: echo ~, mkdir, chmod (or setfacl and the like), async_wrapper; the module and
    # async_wrapper transferred.
    assert native_start[1] == 2, report
    # One Python process of ours per start, attach or start-and-wait; nothing else runs
    # our module in those tasks (the wait of a job that ends in the first slice included).
    assert start[2] == attach[2] == quick[2] == 1, report
    if pipelining:
        assert native_start[0] == 4, report
        assert start == attach == quick == (1, 0, 1), report
        for task in ('C: async_alias', 'C: async_status_id by name',
                     'C: async_status_id by jid', 'C: async_wait by name (one slice)',
                     'C: async_kill by name', 'C: async_status_id cleanup by name',
                     'C: async_kill the native job'):
            assert costs[task] == (1, 0, 0), (task, report)
        assert costs['C: native status by jid'][0] == 2, report  # echo ~ for the async dir
    else:
        # + the runner transferred; no command spent on expanding remote_tmp (echo ~): the
        # mkdir expands it.
        assert start[1] == attach[1] == quick[1] == 3, report
        if where == 'local':
            assert start[0] == attach[0] == quick[0] == 2, report  # mkdir, ours
        else:
            # become to an unprivileged user: Ansible's own permission fix-up runs
            assert start[0] == quick[0] == native_start[0] - 1, report
            assert attach[0] == native_start[0], report  # + removing the job's tmp dir

    started, attached, quick_res = r.load('started'), r.load('attached'), r.load('quick')
    assert started['attached'] is False and attached['attached'] is True
    assert attached['ansible_job_id'] == started['ansible_job_id']
    assert started['results_file'] == os.path.join(async_dir, started['ansible_job_id'])
    assert quick_res['state'] == 'succeeded' and quick_res['stdout'] == 'quick'
    assert quick_res['stdout_lines'] == ['quick']


# --- a run that died between the claim and the naming -----------------------------------------

def _write_claim(async_dir, alias, prefix):
    """The claim a one-step start writes before it runs async_wrapper (then dies)."""
    with open(os.path.join(async_dir, '.jid_%s.claim' % alias), 'w', encoding='utf-8') as f:
        json.dump({'token': 'dead-run', 'time': 0, 'pid': 999999999, 'jid_prefix': prefix}, f)


@pytest.mark.wrapper_only('claims with an async_wrapper jid prefix: the one-step start\'s own')
@pytest.mark.parametrize('finished,waiting', [(False, False), (False, True), (True, True),
                                              (True, False)])
def test_claim_of_a_dead_run_finds_its_job(run_playbook, async_dir, test_dirs, finished,
                                           waiting):
    counter = test_dirs.root / 'counter'
    # A job that must still run at the second run lasts long enough for a loaded machine;
    # one the second run waits for, briefly.
    seconds = 0 if finished else (3 if waiting else 30)
    evars = {'counter': str(counter), 'waiting': waiting, 'job_seconds': seconds}
    r = run_playbook('task_recover_claim.yml', extra_vars=dict(evars, phase='start'))
    jid = r.load('orphan')['ansible_job_id']
    if finished:
        wait_for(lambda: job_file(async_dir, jid).get('rc') == 0, 30, 'the job to finish')
    _write_claim(async_dir, 'recovered', jid.split('.')[0])

    r = run_playbook('task_recover_claim.yml', extra_vars=dict(evars, phase='recover'))
    again = r.load('again')
    assert again['ansible_job_id'] == jid and again['attached'] is True, again
    assert again['changed'] is False or waiting
    assert not os.path.exists(os.path.join(async_dir, '.jid_recovered.claim'))
    if waiting:
        assert again['state'] == 'succeeded' and again['stdout'] == 'job-output'
        assert alias_target(async_dir, 'recovered') is None  # collected: name freed
    else:
        assert again['state'] == ('succeeded' if finished else 'running')
        assert alias_target(async_dir, 'recovered') == jid
    if finished or waiting:
        wait_for(lambda: not wrapper_processes(jid), 30, 'the job to end')
    else:
        # still in its 30 s sleep: the run it started is the one in the counter
        kill_job(jid, timeout=30)
    assert lines(counter) == ['run']


@pytest.mark.wrapper_only('claims with an async_wrapper jid prefix: the one-step start\'s own')
def test_claim_of_a_dead_run_that_started_nothing(run_playbook, async_dir, test_dirs):
    counter = test_dirs.root / 'counter'
    os.makedirs(async_dir)
    _write_claim(async_dir, 'recovered', 'j123456789')
    r = run_playbook('task_recover_claim.yml', extra_vars={
        'counter': str(counter), 'waiting': True, 'job_seconds': 0, 'phase': 'recover'})
    again = r.load('again')
    assert again['attached'] is False and again['state'] == 'succeeded'
    assert not again['ansible_job_id'].startswith('j123456789.')
    assert not os.path.exists(os.path.join(async_dir, '.jid_recovered.claim'))
    assert lines(counter) == ['run']


# --- many controllers on one name -----------------------------------------------------------

# Twenty controllers on 2.19, locally and over SSH, and under Mitogen (make
# integration-mitogen, whose start in steps races otherwise: 'local-mitogen'). The matrix
# runs the same race with four ('local-four'): the race is decided on the host under the
# name's lock, the same on every ansible-core, while each core's start path is what the
# matrix checks; twenty controllers cost a minute per row.
@pytest.mark.parametrize('where, n', [
    pytest.param('local', 20, id='local'), pytest.param('ssh', 20, id='ssh'),
    pytest.param('local', 20, id='local-mitogen', marks=pytest.mark.mitogen),
    pytest.param('local', 4, id='local-four', marks=pytest.mark.matrix)])
def test_twenty_controllers_start_one_job(request, where, n, start_playbook, async_dir,
                                          test_dirs, out_dir):
    if request.node.callspec.id == 'local-mitogen' and not STRATEGY:
        pytest.skip('the Mitogen run of this test: make integration-mitogen')
    if where == 'ssh':
        request.getfixturevalue('ssh_target')
    counter = test_dirs.root / 'counter'
    # The job must outlast the start of the last controller: once it has ended and a waiter
    # got its outcome (which frees the name), a controller that comes later starts it again,
    # as it should. Twenty Mitogen controllers on two busy cores can take longer than 8 s.
    seconds = 20 if STRATEGY else 8
    runs = [start_playbook('task_once.yml', inventory=where,
                           extra_vars={'counter': str(counter), 'tag': str(i),
                                       'job_seconds': seconds})
            for i in range(n)]
    for run in runs:
        assert run.wait(300) == 0, run.describe()
    assert lines(counter) == ['run']
    results = [json.loads((out_dir / ('result-%d.json' % i)).read_text(encoding='utf-8'))
               for i in range(n)]
    assert len(set(res['ansible_job_id'] for res in results)) == 1, results
    assert sorted(res['attached'] for res in results) == [False] + [True] * (n - 1)
    for res in results:
        assert res['stdout'] == 'job-output' and res['state'] == 'succeeded'
    assert not [name for name in os.listdir(async_dir) if name.endswith('.claim')]


# --- the attach path leaves no tmp dir ------------------------------------------------------

@pytest.mark.wrapper_only('the one-step start\'s remote tmp dir; Mitogen makes and removes its own')
@pytest.mark.parametrize('become_to,pipelining', [('root', False), ('ajjob', False),
                                                  ('root', True), ('ajjob', True)])
def test_attach_leaves_no_remote_tmp_dir(request, become_to, pipelining, run_playbook, test_dirs,
                                         async_dir, ssh_target):
    """Without pipelining, each start makes a remote tmp dir for the job; when the job is
    not started (attach) it is removed at once: by the module when it runs as root, by the
    controller when it runs as an unprivileged become user (the dir is the login user's).
    With pipelining, the runner makes the dir (as the become user) only when it starts the
    job: an attach makes none. Either way only the running job's own tmp dir is left (its
    watcher removes it when it ends). Over SSH: on the local connection remote tmp dirs
    live in the controller's own temp dir, removed at its exit."""
    remote_tmp = tempfile.mkdtemp(prefix='ajit-rtmp-', dir='/tmp')
    os.chmod(remote_tmp, 0o1777)
    request.addfinalizer(lambda: shutil.rmtree(remote_tmp, ignore_errors=True))
    gate = test_dirs.root / 'gate'
    gate.write_text('', encoding='utf-8')
    os.chmod(str(gate), 0o644)
    # (an unprivileged become user's tmp dirs go to a system tmp dir: this one too)
    evars = {'gate': str(gate), 'ansible_remote_tmp': remote_tmp, 'become_to': become_to,
             'ansible_system_tmpdirs': [remote_tmp]}
    try:
        r = run_playbook('task_attach_tmp.yml', inventory='ssh', extra_vars=evars,
                         env={'ANSIBLE_PIPELINING': str(pipelining)})
        left = sorted(os.listdir(remote_tmp))
    finally:
        gate.unlink()
    jid = r.load('started')['ansible_job_id']
    assert [a['ansible_job_id'] for a in r.load('attached')] == [jid, jid]
    assert [a['attached'] for a in r.load('attached')] == [True, True]
    # The running job's own tmp dir, and nothing of the two attaches.
    assert len(left) == 1 and left[0].startswith('ansible-tmp-'), left
    owner = pwd.getpwuid(os.stat(os.path.join(remote_tmp, left[0])).st_uid).pw_name
    assert owner == (become_to if pipelining else ssh_target.login_user), owner
    wait_for(lambda: not wrapper_processes(jid), 30, 'the job to end')


@pytest.mark.matrix
@pytest.mark.wrapper_only('the one-step start\'s remote tmp dir; Mitogen makes its own')
@pytest.mark.parametrize('pipelining', [False, True])
def test_remote_tmp_with_a_tilde_is_expanded_on_the_host(request, pipelining, run_playbook,
                                                         test_dirs, async_dir):
    """The one-step start does not spend a command on expanding ``remote_tmp`` (``echo ~``):
    without pipelining the command that makes the job's tmp dir expands it on the host; with
    pipelining the start is one command, whose runner makes the dir itself. The job's tmp
    dir is made under the home dir, and nothing is made under a literal ``~``."""
    name = '.ajit-rtmp-%s' % uuid.uuid4().hex[:10]
    home_tmp = os.path.join(os.path.expanduser('~'), name)
    request.addfinalizer(lambda: shutil.rmtree(home_tmp, ignore_errors=True))
    gate = test_dirs.root / 'gate'
    gate.write_text('', encoding='utf-8')
    evars = {'gate': str(gate), 'ansible_remote_tmp': '~/' + name, 'become_to': 'root'}
    try:
        r = run_playbook('task_attach_tmp.yml', extra_vars=evars, args=('-vvv',),
                         env={'ANSIBLE_PIPELINING': str(pipelining)})
        left = sorted(os.listdir(home_tmp))
    finally:
        gate.unlink()
    jid = r.load('started')['ansible_job_id']
    assert [a['ansible_job_id'] for a in r.load('attached')] == [jid, jid]
    # The running job's own tmp dir, under the expanded path; the attaches' are removed.
    assert len(left) == 1 and left[0].startswith('ansible-tmp-'), left
    ours = r.stdout.split('TASK [Dump')[0]  # (the dump's copy expands remote_tmp itself)
    assert 'TASK [Attach to it, twice]' in ours
    ours_starts = ours.split('TASK [Start the job]')[1]
    if pipelining:
        assert 'mkdir' not in ours_starts and 'PUT ' not in ours_starts, ours_starts
        assert ours_starts.count(' EXEC ') == 3, 'not one command per start'
    else:
        assert ours.count('mkdir -p "` echo ~/%s' % name) == 3, 'not one tmp dir per start'
    assert 'EXEC /bin/sh -c \'echo ~' not in ours, 'a command was spent on echo ~'
    for where in (os.getcwd(), os.path.dirname(os.path.abspath(__file__)), str(test_dirs.root)):
        assert not os.path.exists(os.path.join(where, '~')), where
    wait_for(lambda: not wrapper_processes(jid), 30, 'the job to end')


# --- a naming that fails after the start ----------------------------------------------------

@pytest.mark.wrapper_only('the one-step start names the job in the same process as it starts '
                          'it; under Mitogen test_mitogen covers the steps')
def test_naming_fails_after_start_then_a_rerun_finds_the_job(run_playbook, async_dir,
                                                             test_dirs):
    """Issue 10's claim-leak regression: the job started, its naming failed. The task
    fails and says so; the name's claim stays, recording the job's jid prefix, so that
    a re-run does not wait for a dead claim (60 s) nor start the job again: it attaches
    at once, and the job ran once."""
    counter = test_dirs.root / 'counter'
    squat = os.path.join(async_dir, 'jid_squatted')
    os.makedirs(os.path.join(squat, 'keep'))
    r = run_playbook('task_naming_fails.yml',
                     extra_vars={'counter': str(counter), 'phase': 'first'})
    first = r.load('first')
    assert first['failed'] is True, first
    assert 'jid_squatted' in first['msg'] and 'Is a directory' in first['msg'], first
    wait_for(lambda: lines(counter) == ['run'], 30, 'the job to run')
    with open(os.path.join(async_dir, '.jid_squatted.claim'), encoding='utf-8') as f:
        claim = json.load(f)
    jobs = [n for n in os.listdir(async_dir) if re.match(r'^j?\d+\.\d+$', n)]
    assert len(jobs) == 1 and jobs[0].split('.')[0] == claim['jid_prefix'], (jobs, claim)
    jid = jobs[0]

    shutil.rmtree(squat)
    began = time.time()
    r = run_playbook('task_naming_fails.yml',
                     extra_vars={'counter': str(counter), 'phase': 'again'})
    took = time.time() - began
    again = r.load('again')
    assert again['ansible_job_id'] == jid and again['attached'] is True, again
    assert again['state'] == 'running' and again['changed'] is False
    assert alias_target(async_dir, 'squatted') == jid
    assert not os.path.exists(os.path.join(async_dir, '.jid_squatted.claim'))
    # Not after a wait for the claim to go stale (60 s): the claim named the job.
    assert took < 45, took
    kill_job(jid, timeout=30)
    assert lines(counter) == ['run']
