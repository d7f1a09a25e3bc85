# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failpoint matrix (issue 17): every named point of the start and wait path
(plugins/module_utils/_shared/failpoints.py) x every fault {the controller is killed, the
start runner (or the module on the host) is killed, the job's wrapper is killed, the
connection drops}, where that point and that fault exist.

Each case runs ``failpoint_job.yml`` (async_task with a wait budget: a shell job that logs
its start and end to a counter file) in the background with one failpoint switched on
(``ASYNCJOBS_NAMED_FAILPOINTS``). When the code reaches the point it reports
(``<point>.reached``: its pid, the jid prefix or jid) and pauses; the test applies the
fault from outside, as a real one would come, then lets the code go on. Then it checks:

* a live job always has a name or a claim that leads to it (right after the fault);
* the next run (the same playbook, no failpoint) succeeds: it attaches to the job, or
  starts it when the fault killed it or nothing had started, exactly once;
* at most one run of the job at a time, and one in all unless the fault killed the job;
* the result the re-run returns is the job's own (its shell's pid, which its start line
  logged), never a made-up one.

One-step start: locally as root and over SSH with become to ajjob (the connection drop
there: the sshd session that serves the runner is killed). The start in steps under
Mitogen for Ansible (mitogen_linear, locally): its points are on the host (async_claim's
prepare and bind, async_wait's slice) and on the controller (after the start, before the
naming). A runner killed there is the Mitogen module process.
"""

import json
import os
import shutil
import signal
import tempfile
import time

import pytest

from _async_task_lib import (background_starter, is_mitogen_jid, live_processes, mitogen_env,
                             mitogen_runner, wait_for)
from _jobs_lib import kill_job

POINTS = ('after-claim', 'after-wrapper', 'before-naming', 'after-naming', 'before-status',
          'in-wait-slice')
# Where a point runs in the start in steps (Mitogen): on the host, or on the controller.
STEPS_POINTS = {'after-claim': 'host', 'after-wrapper': 'controller', 'before-naming': 'host',
                'after-naming': 'host', 'in-wait-slice': 'host'}
FAULTS = ('controller', 'runner', 'wrapper', 'connection')


def cases():
    for where in ('local', 'ssh'):
        for point in POINTS:
            for fault in FAULTS:
                if fault == 'wrapper' and point == 'after-claim':
                    continue  # no job yet
                if fault == 'connection' and where != 'ssh':
                    continue  # a local connection has none to drop
                yield pytest.param(where, point, fault, id='%s-%s-%s' % (where, point, fault),
                                   marks=[pytest.mark.wrapper_only('the one-step start')])
    for point, side in STEPS_POINTS.items():
        for fault in ('controller', 'runner', 'wrapper'):
            if fault == 'wrapper' and point == 'after-claim':
                continue
            if fault == 'runner' and side == 'controller':
                continue  # the controller's own point: killing it is the controller fault
            yield pytest.param('mitogen', point, fault, id='mitogen-%s-%s' % (point, fault),
                               marks=[pytest.mark.mitogen])


def _ancestor_sshd(pid):
    """The sshd process above ``pid`` (the one that serves its session), or None."""
    table = dict((p, (int(fields[1]), argv)) for p, fields, argv in live_processes())
    while pid in table and pid > 1:
        ppid, argv = table[pid]
        if argv and argv[0].startswith('sshd'):
            return pid
        pid = ppid
    return None


def _kill_job_processes(info, async_dir):
    """Kill the job of the failpoint's report (its async_wrapper, or Mitogen's runner, with
    their process groups). Returns its jid."""
    jid = info.get('jid')
    if jid is None:
        prefix = info['prefix']
        jid = wait_for(lambda: next((n for n in os.listdir(async_dir)
                                     if n.startswith(prefix + '.')), None), 30,
                       'the job file of %s' % prefix)
    if is_mitogen_jid(jid):
        for pid in mitogen_runner(jid):
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    else:
        kill_job(jid)
    return jid


def _counter_runs(path):
    """[(shell pid, started, ended)] of the job's runs, from the counter file."""
    runs = {}
    order = []
    if not path.exists():
        return []
    for line in path.read_text().splitlines():
        what, pid = line.split()[:2]
        if what == 'start':
            runs[pid] = [pid, True, False]
            order.append(pid)
        elif what == 'end':
            runs.setdefault(pid, [pid, False, False])[2] = True
    return [tuple(runs[p]) for p in order]


def _links_to_live_jobs(async_dir):
    """Every job file of the async dir that says running and whose processes live must be
    reachable from the name ``fp``: its link, or its claim (jid, jid prefix, or the jid it
    expected). Returns the unreachable jids."""
    names = os.listdir(async_dir) if os.path.isdir(async_dir) else []
    link = os.path.join(async_dir, 'jid_fp')
    named = os.path.basename(os.readlink(link)) if os.path.islink(link) else None
    claim = {}
    try:
        with open(os.path.join(async_dir, '.jid_fp.claim')) as f:
            claim = json.load(f)
    except (OSError, ValueError):
        pass
    lost = []
    for name in names:
        path = os.path.join(async_dir, name)
        if name.startswith(('.', 'jid_')) or '.' in name and not name.split('.')[1].isdigit():
            continue
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        if not data.get('started') or data.get('finished'):
            continue
        alive = mitogen_runner(name) if is_mitogen_jid(name) else any(
            True for _p, _f, argv in live_processes()
            if any(a.endswith('async_wrapper.py') for a in argv) and name.split('.')[0] in argv)
        if not alive:
            continue
        if name in (named, claim.get('jid'), claim.get('expected_jid')):
            continue
        if claim.get('jid_prefix') and name.startswith(claim['jid_prefix'] + '.'):
            continue
        lost.append(name)
    return lost


def run_case(request, ansible_playbook, installed_collection, session_dir, test_dirs,
             run_playbook, async_dir, where, point, fault):
    fpdir = test_dirs.root / 'fp'
    fpdir.mkdir()
    fpdir.chmod(0o1777)
    counter = test_dirs.root / 'counter'
    counter.touch()
    counter.chmod(0o666)
    inventory = 'ssh' if where == 'ssh' else 'local'
    env = mitogen_env('mitogen_linear', async_dir) if where == 'mitogen' else {}
    # The result from the minimal callback (no task to dump it); over SSH a ControlMaster of
    # the test's own (the connection fault kills the sshd behind it, and no other test may
    # share it) and pipelining (fewer round trips).
    control = tempfile.mkdtemp(prefix='cp', dir='/tmp')  # short: a socket path has 108 bytes
    request.addfinalizer(lambda: shutil.rmtree(control, ignore_errors=True))
    env.update(ANSIBLE_STDOUT_CALLBACK='ansible.builtin.minimal', ANSIBLE_PIPELINING='True',
               ANSIBLE_SSH_CONTROL_PATH_DIR=control)
    evars = dict(counter=str(counter), become_job=where == 'ssh')
    start = background_starter(request, ansible_playbook, installed_collection, session_dir,
                               test_dirs)
    first = start('failpoint_job.yml', extra_vars=evars, inventory=inventory,
                  env=dict(env, ASYNCJOBS_NAMED_FAILPOINTS='%s:%s' % (fpdir, point)))
    reached = fpdir / (point + '.reached')
    wait_for(reached.exists, 120, 'failpoint %s' % point, proc=first)
    info = json.loads(reached.read_text())
    killed_job = None
    if fault == 'controller':
        first.kill()
    elif fault == 'runner':
        os.kill(info['pid'], signal.SIGKILL)
    elif fault == 'wrapper':
        killed_job = _kill_job_processes(info, async_dir)
    else:
        sshd = _ancestor_sshd(info['pid'])
        assert sshd, 'no sshd above pid %s' % info['pid']
        os.kill(sshd, signal.SIGKILL)
    (fpdir / (point + '.go')).touch()
    first.wait(180)
    reported = task_result(first.output())
    if reported is not None and reported.get('failed'):
        # a failure that reached the controller says what became of the job
        assert 'running the task again' in reported['msg'].lower() or reported.get(
            'ansible_job_id'), reported

    # a live job always has a name or a claim that leads to it
    assert _links_to_live_jobs(async_dir) == [], first.describe()

    again = run_playbook('failpoint_job.yml', inventory=inventory, extra_vars=evars, env=env,
                         timeout=240)
    result = task_result(again.stdout)
    assert result and not result.get('failed') and result['rc'] == 0, (result, first.describe())
    runs = _counter_runs(counter)
    # the result is the job's own: its shell's pid, which its start line logged
    pids = [pid for pid, _s, ended in runs if ended]
    assert result['stdout'] == 'done-%s' % pids[-1], (result, runs)
    if killed_job is None:
        assert len(runs) == 1, (runs, first.describe())
    else:
        # the killed run never ended, the next one started after the kill, once
        assert len(runs) <= 2 and all(ended for _p, _s, ended in runs[-1:]), runs
        if len(runs) == 2:
            assert runs[0][2] is False, runs


def task_result(output):
    """The task's result from the minimal callback's output (``host | STATUS => {...}``), or
    None (no result: the controller was killed, or the host was unreachable)."""
    start, end = output.find(' => {'), output.rfind('}')
    if start < 0 or end < start:
        return None
    try:
        return json.loads(output[start + 4:end + 1])
    except ValueError:
        return None


# One class per place, so that pytest-xdist's loadscope spreads them over the workers.
def _cases_of(where):
    return [c for c in cases() if c.values[0] == where]


class TestLocal:
    @pytest.mark.parametrize('where,point,fault', _cases_of('local'))
    def test_failpoint(self, request, ansible_playbook, installed_collection, session_dir,
                       test_dirs, run_playbook, async_dir, where, point, fault):
        run_case(request, ansible_playbook, installed_collection, session_dir, test_dirs,
                 run_playbook, async_dir, where, point, fault)


class TestSsh:
    @pytest.mark.parametrize('where,point,fault', _cases_of('ssh'))
    def test_failpoint(self, request, ansible_playbook, installed_collection, session_dir,
                       test_dirs, run_playbook, async_dir, where, point, fault):
        run_case(request, ansible_playbook, installed_collection, session_dir, test_dirs,
                 run_playbook, async_dir, where, point, fault)


class TestMitogen:
    """The cases where the controller dies at the claim (its claim goes stale in 60 s)."""

    @pytest.mark.parametrize('where,point,fault', [c for c in _cases_of('mitogen')
                                                   if c.values[1] == 'after-claim'])
    def test_failpoint(self, request, ansible_playbook, installed_collection, session_dir,
                       test_dirs, run_playbook, async_dir, where, point, fault):
        run_case(request, ansible_playbook, installed_collection, session_dir, test_dirs,
                 run_playbook, async_dir, where, point, fault)


class TestMitogenLater:
    """The other points under Mitogen, on the other worker."""

    @pytest.mark.parametrize('where,point,fault', [c for c in _cases_of('mitogen')
                                                   if c.values[1] != 'after-claim'])
    def test_failpoint(self, request, ansible_playbook, installed_collection, session_dir,
                       test_dirs, run_playbook, async_dir, where, point, fault):
        run_case(request, ansible_playbook, installed_collection, session_dir, test_dirs,
                 run_playbook, async_dir, where, point, fault)


@pytest.mark.mitogen
def test_mitogen_job_that_ended_before_the_rerun_is_found(request, ansible_playbook,
                                                          installed_collection, session_dir,
                                                          test_dirs, run_playbook, async_dir):
    """Under Mitogen, the controller dies after the start, before naming the job; the job
    ends before anyone looks. The claim recorded the job's id before the start, so the
    re-run finds the finished job by its file at once, and returns its result: one run."""
    fpdir = test_dirs.root / 'fp'
    fpdir.mkdir()
    counter = test_dirs.root / 'counter'
    counter.touch()
    env = dict(mitogen_env('mitogen_linear', async_dir),
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.minimal')
    evars = dict(counter=str(counter), become_job=False)
    start = background_starter(request, ansible_playbook, installed_collection, session_dir,
                               test_dirs)
    first = start('failpoint_job.yml', extra_vars=evars,
                  env=dict(env, ASYNCJOBS_NAMED_FAILPOINTS='%s:after-wrapper' % fpdir))
    reached = fpdir / 'after-wrapper.reached'
    wait_for(reached.exists, 120, 'failpoint after-wrapper', proc=first)
    jid = json.loads(reached.read_text())['jid']
    first.kill()
    claim = json.loads((test_dirs.async_dir / '.jid_fp.claim').read_text())
    assert claim['expected_jid'] == jid
    wait_for(lambda: _counter_runs(counter) and _counter_runs(counter)[0][2], 30,
             'the job to end')
    wait_for(lambda: not mitogen_runner(jid), 30, 'the job runner to exit')
    began = time.time()
    again = run_playbook('failpoint_job.yml', extra_vars=evars, env=env, timeout=120)
    result = task_result(again.stdout)
    assert time.time() - began < 30  # found at once, not after the claim went stale
    assert (result['ansible_job_id'], result['attached'], result['rc']) == (jid, True, 0)
    runs = _counter_runs(counter)
    assert len(runs) == 1 and result['stdout'] == 'done-%s' % runs[0][0]
