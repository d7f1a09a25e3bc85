# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Containment (issue 22) with real ansible-playbook runs: one playbook (containment.yml)
per place a job can run - locally as root (a cgroup of its own), over SSH with become to
root (a cgroup) and to the unprivileged job user (the fallback: the mark in the job's
environment).

Checked each time: async_kill stops a job's setsid child and double-forked grandchild; so
does the async: time limit (its leftovers are killed at the limit, by the job's keeper,
before anything reads the job); a process that escaped the job's cgroup or tree and
cleared its environment is found (the keeper's descendant), reported (``escaped``) and
stopped; a job that ended with a daemon running reports it and async_kill stops it; a job
that nobody reads after it ended has its figures recorded and its cgroup removed by its
keeper. Where there is a cgroup: CPU and memory figures, and a memory limit that stops a
job. Bad limits are refused before anything starts. Under Mitogen for Ansible jobs are not
contained, and limits are refused. The cgroup v2 paths run on the real kernel: as root,
ansible-playbook in a mount namespace whose /sys/fs/cgroup is the host's cgroup2 hierarchy.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from _async_task_lib import sleep_processes, wrapper_processes

DURATIONS = (417, 418, 420, 422, 423, 424, 425, 426, 427, 428)


def _run(run_playbook, inventory, extra, cgroup, job_dir=None, memory=True, v2=False):
    nap = str(uuid.uuid4().int % 10 ** 6)
    prefix = 'ct-%s-' % uuid.uuid4().hex[:8]
    naps = ['%d.%s' % (n, nap) for n in DURATIONS]
    try:
        r = run_playbook('containment.yml', inventory=inventory,
                         extra_vars=dict(extra, nap=nap, prefix=prefix, py=sys.executable
                                         if inventory == 'local' else '/usr/bin/python3'),
                         timeout=240)
        # Checked before this run's files are removed from a shared async dir.
        return _check(r, sleep_processes(*naps), cgroup, memory, v2)
    finally:
        for pid in sleep_processes(*naps):
            os.kill(pid, signal.SIGKILL)
        if job_dir and os.path.isdir(job_dir):  # a shared async dir: this run's files only
            _remove_jobs(job_dir, prefix)


def _remove_jobs(job_dir, prefix):
    jids = set()
    for name in os.listdir(job_dir):
        path = os.path.join(job_dir, name)
        if name.startswith('jid_' + prefix) and os.path.islink(path):
            jids.add(os.path.basename(os.readlink(path)))
            os.unlink(path)
    for name in os.listdir(job_dir):
        if any(jid in name for jid in jids) or prefix in name:
            os.unlink(os.path.join(job_dir, name))


def _check(r, left, cgroup, memory=True, v2=False):
    d = dict((name, r.load(name)) for name in (
        'escapee', 'overtime', 'leaver', 'starter', 'busy', 'hungry', 'bad_limits',
        'escapee_status', 'kill_escapee', 'kill_leaver', 'overtime_done', 'overtime_again',
        'kill_starter', 'listed', 'overtime_swept', 'quick'))
    mechanism = 'cgroup' if cgroup else 'environ'
    assert not left, 'processes of the jobs still run: %s' % left

    st = d['escapee_status']
    assert st['state'] == 'running' and st['containment']['mechanism'] == mechanism, st
    k = d['kill_escapee']
    assert k['state'] == 'killed' and k['unstopped'] == [] and k['changed'] is True, k
    assert k['containment']['mechanism'] == mechanism and k['containment']['escaped'] == []
    # sh, the setsid sleep, the double-forked sleep, sleep 418, the wrappers and the module
    assert len(k['pids']) >= 5, k
    assert not wrapper_processes(k['ansible_job_id'])

    kl = d['kill_leaver']
    assert kl['state'] == 'killed' and kl['unstopped'] == [], kl
    assert len(kl['containment']['escaped']) == 1, kl  # reported, and stopped
    assert set(kl['containment']['escaped']) <= set(kl['pids'])

    ot = d['overtime_done']
    assert ot['state'] == 'timed_out', ot
    # The setsid sleep and the double-forked one were gone before the first status read of
    # the job. The double-forked one stays in the job's process group: async_wrapper's kill
    # takes it. The setsid one does not: the keeper swept it at the limit, and recorded it.
    # On a loaded host the watcher's setpgid can come after the module's first fork, and
    # its kill of the module's group then misses the module too: swept as well (seen: the
    # module, its shell and both sleeps).
    assert d['overtime_swept']['rc'] == 0, d['overtime_swept']
    assert len(ot['containment']['swept']) >= 1, ot
    assert d['overtime_again']['containment'] == ot['containment']

    quick = d['quick']
    assert quick['state'] in ('running', 'succeeded'), quick
    kept = _check_kept(quick, mechanism)
    if cgroup:
        # The hierarchy used: v1's controllers, or the unified one ('').
        assert (list(kept['dirs']) == ['']) == v2, kept

    starter = d['starter']
    assert starter['state'] == 'succeeded' and starter['stdout'] == 'started', starter
    ks = d['kill_starter']
    assert ks['changed'] is True and ks['state'] == 'succeeded' and ks['unstopped'] == [], ks
    assert len(ks['pids']) == 1 and 'were still running' in ks['msg'], ks
    if cgroup:
        # The daemon was reported when the job ended; the report is a snapshot taken as soon
        # as the job file says it ended, and once (under load, with the keeper's
        # descendants counted) it also named a process of the job that was still exiting.
        assert set(ks['pids']) <= set(starter['containment']['left_running']), (starter, ks)

    bad = d['bad_limits']
    assert bad['failed'] is True and 'invalid memory limit' in bad['msg'], bad
    assert 'Nothing was started' in bad['msg'] and bad.get('job_started') is False, bad

    busy, hungry = d['busy'], d['hungry']
    assert busy['state'] == 'succeeded', busy
    entries = dict((j['aliases'][0].split('-', 2)[-1], j) for j in d['listed']['jobs']
                   if j['aliases'])
    if cgroup:
        used = busy['containment']
        assert used['mechanism'] == 'cgroup' and used['cpu_seconds'] > 0.1, used
        assert entries['escapee']['containment']['cpu_seconds'] >= 0, entries['escapee']
    if cgroup and not memory:
        # No memory controller in the job's cgroup: no memory figures, memory limits refused.
        assert 'memory_peak' not in used, used
        assert hungry['failed'] is True and 'limits need a cgroup of the job' in hungry['msg']
        assert hungry.get('job_started') is False, hungry
    elif cgroup:
        assert used['memory_peak'] > 64 << 20, used
        assert hungry['failed'] is True and hungry['state'] in ('failed', 'orphaned'), hungry
        assert hungry['containment']['oom_kills'] >= 1, hungry
        assert 'went over its memory limit of %d bytes' % (64 << 20) in hungry['msg'], hungry
        assert 'survived' not in hungry.get('stdout', '')
    else:
        assert 'cpu_seconds' not in busy['containment'], busy
        assert hungry['failed'] is True and 'limits need a cgroup of the job' in hungry['msg']
        assert hungry.get('job_started') is False, hungry
    return d


def _check_kept(started, mechanism, within=15.0):
    """A job whose status nobody read after it ended: its keeper recorded its figures in its
    meta file and removed its cgroup."""
    jid = started['ansible_job_id']
    meta = os.path.join(os.path.dirname(started['results_file']), '.%s.meta' % jid)
    deadline = time.time() + within
    while True:
        with open(meta) as f:
            kept = json.load(f)['containment']
        if 'final' in kept or time.time() > deadline:
            break
        time.sleep(0.2)
    assert kept['final']['mechanism'] == mechanism, kept
    assert kept['keeper']['pid'] > 1, kept
    for d in (kept.get('dirs') or {}).values():
        assert not os.path.exists(d), kept
    if mechanism == 'cgroup':
        assert kept['final']['cpu_seconds'] >= 0, kept
    return kept


# Under Mitogen for Ansible async_task starts jobs in several steps: they are not contained.
WRAPPER_ONLY = pytest.mark.wrapper_only('jobs started by Mitogen\'s runner are not contained')


def _cgroups_writable():
    return os.geteuid() == 0 and os.path.isdir('/sys/fs/cgroup/freezer')


@WRAPPER_ONLY
@pytest.mark.skipif(not _cgroups_writable(), reason='needs root and cgroup v1 controllers')
def test_containment_local_root(run_playbook):
    _run(run_playbook, 'local', dict(cgroup=True), cgroup=True)


@WRAPPER_ONLY
@pytest.mark.skipif(not _cgroups_writable(), reason='needs root and cgroup v1 controllers')
def test_containment_ssh_become_root(run_playbook, ssh_target):
    _run(run_playbook, 'ssh', dict(cgroup=True, job_become=True, job_become_user='root'),
         cgroup=True)


# ansible-playbook in a mount namespace of its own whose /sys/fs/cgroup is a cgroup2 mount:
# the host's unified hierarchy (on this hybrid host: without the controllers that v1 holds,
# so no memory figures and no memory limit; freezing, membership and CPU time are there).
CGROUP2_WRAPPER = '''#!/bin/sh
exec unshare -m /bin/sh -c 'umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup \
&& exec "$0" "$@"' %s "$@"
'''


def _cgroup2_possible():
    if os.geteuid() != 0 or not os.path.isdir('/sys/fs/cgroup'):
        return False
    probe = subprocess.run(['unshare', '-m', '/bin/sh', '-c', 'umount -l /sys/fs/cgroup && mount '
                            '-t cgroup2 none /sys/fs/cgroup && test -f /sys/fs/cgroup/cgroup.procs'],
                           capture_output=True, check=False)
    return probe.returncode == 0


@pytest.fixture
def run_playbook_cgroup2(request, ansible_playbook, session_dir, test_dirs):
    from conftest import _inventory, run_ansible_playbook
    wrapper = test_dirs.root / 'ansible-playbook-cgroup2'
    wrapper.write_text(CGROUP2_WRAPPER % ansible_playbook)
    wrapper.chmod(0o755)

    def run(playbook, inventory='local', extra_vars=None, **kwargs):
        return run_ansible_playbook(str(wrapper), session_dir, test_dirs, playbook,
                                    _inventory(request, inventory), extra_vars=extra_vars,
                                    **kwargs)
    return run


@WRAPPER_ONLY
@pytest.mark.skipif(not _cgroup2_possible(), reason='needs root, unshare and a cgroup2 fs')
def test_containment_local_root_cgroup2(run_playbook_cgroup2):
    """The cgroup v2 paths (cgroup.freeze, cgroup.procs, cpu.stat) on the real kernel."""
    _run(run_playbook_cgroup2, 'local', dict(cgroup=True), cgroup=True,
         memory=os.path.exists('/sys/fs/cgroup/memory.stat'), v2=True)


@WRAPPER_ONLY
def test_containment_ssh_become_unprivileged(run_playbook, ssh_target):
    _run(run_playbook, 'ssh', dict(cgroup=False, job_become=True,
                                   job_become_user=ssh_target.job_user,
                                   ansible_async_dir=None),
         cgroup=False, job_dir=ssh_target.default_async_dir(ssh_target.job_user))


@pytest.mark.mitogen
def test_containment_under_mitogen(run_playbook, async_dir):
    """Under Mitogen for Ansible (strategy mitogen_linear) jobs are not contained: limits
    are refused before anything starts, and a job's result has no containment."""
    pytest.importorskip('ansible_mitogen', reason='Mitogen for Ansible is not installed')
    from _async_task_lib import mitogen_env
    r = run_playbook('containment_mitogen.yml', env=mitogen_env('mitogen_linear', async_dir))
    limited, plain = r.load('limited'), r.load('plain')
    assert limited['failed'] is True and 'limits need the one-step start' in limited['msg']
    assert 'Nothing was started' in limited['msg']
    assert not os.path.lexists(os.path.join(async_dir, 'jid_m-limited'))
    assert plain['state'] == 'succeeded' and 'containment' not in plain, plain
