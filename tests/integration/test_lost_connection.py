# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A connection lost while a task waits for its named job: over real SSH with become
(pipelining on, a ControlMaster of the test's own), through a proxy that can cut the
connection (RST) or stop answering, with the sshd behind the session killed, or the ssh
client killed. The fault is applied at the failpoint ``in-wait-slice``: in async_task's
first wait slice (inside the start runner), in async_wait's, and in a wait for several
jobs.

The task's result must name the job (``ansible_job_id``, ``ansible_job_alias``,
``attached``) and say that it keeps running and that running the task again attaches to
it; a host whose connection failed stays unreachable (ansible-core's semantics), one whose
output was lost (the ssh client killed) fails. The job keeps running, once; the re-run
attaches to it.
"""

import json
import os
import shutil
import signal
import tempfile

import pytest
import yaml

from _async_task_lib import background_starter, lines, processes, wait_for, wrapper_processes
from _jobs_lib import kill_job
from _netfault import FaultProxy
from test_failpoints import _ancestor_sshd

TARGET_PYTHON = os.environ.get('TARGET_PYTHON') or '/usr/bin/python3'
FAULTS = ('cut', 'freeze', 'sshd', 'client')
CASES = [pytest.param(f, p, id='%s-%s' % (p, f)) for p in ('start', 'wait') for f in FAULTS] + [
    pytest.param('sshd', 'jobs', id='jobs-sshd')]
# ssh notices a network that stops answering after ServerAliveInterval x CountMax seconds;
# no retry of a failed command (ansible-core's reconnection_retries), for a clear outcome.
SSH_ARGS = ('-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null '
            '-o ServerAliveInterval=1 -o ServerAliveCountMax=3')


@pytest.fixture
def proxy(ssh_target):
    p = FaultProxy((ssh_target.address, ssh_target.port))
    yield p
    p.close()


def _inventory(path, ssh_target, port):
    path.write_text(yaml.safe_dump({'all': {'hosts': {'sshhost': {
        'ansible_host': '127.0.0.1', 'ansible_port': port,
        'ansible_user': ssh_target.login_user,
        'ansible_ssh_private_key_file': str(ssh_target.key),
        'ansible_ssh_common_args': SSH_ARGS, 'ansible_ssh_retries': 0,
        'ansible_become_method': 'sudo', 'ansible_python_interpreter': TARGET_PYTHON,
        'login_user': ssh_target.login_user, 'job_user': ssh_target.job_user,
    }}}}), encoding='utf-8')
    return path


def _kill_ssh_clients(port):
    """SIGKILL the ssh clients of this test's connection (not its ControlMaster, whose
    process title is ``ssh: <path> [mux]``)."""
    clients = processes(lambda argv: os.path.basename(argv[0]) == 'ssh'
                        and 'Port=%d' % port in argv)
    assert clients, 'no ssh client with Port=%d' % port
    for pid in clients:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize('fault, phase', CASES)
def test_a_lost_connection_names_the_job(request, fault, phase, proxy, ssh_target,
                                         ansible_playbook, installed_collection, session_dir,
                                         test_dirs, run_playbook, async_dir):
    root = test_dirs.root
    fpdir = root / 'fp'
    fpdir.mkdir()
    fpdir.chmod(0o1777)
    counter = root / 'counter'
    counter.touch()
    counter.chmod(0o666)
    inventory = _inventory(root / 'inventory.yml', ssh_target, proxy.port)
    control = tempfile.mkdtemp(prefix='cp', dir='/tmp')  # short: a socket path has 108 bytes
    request.addfinalizer(lambda: shutil.rmtree(control, ignore_errors=True))
    env = dict(ANSIBLE_PIPELINING='True', ANSIBLE_SSH_CONTROL_PATH_DIR=control)
    evars = dict(counter=str(counter), phase=phase)
    aliases = ['lost-a', 'lost-b'] if phase == 'jobs' else ['lost']
    start = background_starter(request, ansible_playbook, installed_collection, session_dir,
                               test_dirs)
    first = start('lost_connection.yml', inventory=str(inventory), extra_vars=evars,
                  env=dict(env, ASYNCJOBS_NAMED_FAILPOINTS='%s:in-wait-slice' % fpdir))
    reached = fpdir / 'in-wait-slice.reached'
    try:
        wait_for(reached.exists, 120, 'failpoint in-wait-slice', proc=first)
        info = json.loads(reached.read_text())
        if fault == 'cut':
            proxy.cut()
        elif fault == 'freeze':
            proxy.freeze()
        elif fault == 'sshd':
            sshd = _ancestor_sshd(info['pid'])
            assert sshd, 'no sshd above pid %s' % info['pid']
            os.kill(sshd, signal.SIGKILL)
        else:
            _kill_ssh_clients(proxy.port)
        first.wait(120)
    finally:
        (fpdir / 'in-wait-slice.go').touch()
    jids = dict((a, os.path.basename(os.readlink(os.path.join(async_dir, 'jid_' + a))))
                for a in aliases)
    try:
        out = json.loads((test_dirs.out_dir / ('%s.json' % phase)).read_text(encoding='utf-8'))
        res = out['waited']
        what = '%s\n%s' % (json.dumps(res), first.describe())
        if fault == 'client':
            # the ssh client killed: its output lost, not a failed connection; failed
            assert res['failed'] is True and not res.get('unreachable'), what
            assert 'rc -9' in res['msg'], what
        else:
            assert res['unreachable'] is True and not res.get('failed'), what
            assert 'UNREACHABLE!' in first.output(), what
        for jid in jids.values():
            assert jid in res['msg'], what
            assert wrapper_processes(jid), 'job %s is not running any more' % jid
        if phase == 'jobs':
            assert [(r['ansible_job_id'], r['ansible_job_alias'], r['state']) for r in res['results']] \
                == [(jids[a], a, 'running') for a in aliases], what
            assert 'They were running when last seen and keep running on the host' in res['msg'], what
            return
        assert (res['ansible_job_id'], res['ansible_job_alias']) == (jids['lost'], 'lost'), what
        if phase == 'start':
            # async_task: the start header named the job before its first wait slice
            assert res['attached'] is False and res['job_started'] is True, what
            assert ("job %s named 'lost' was started and keeps running on the host, but "
                    % jids['lost']) in res['msg'], what
            assert res['msg'].endswith('while this task waited for it. Running this task again '
                                       'attaches to it (or async_wait with alias=lost waits for '
                                       'it)'), what
        else:
            assert "while this task waited for job %s named 'lost'. It was running when last " \
                "seen and keeps running on the host: running this task again waits for it " \
                "again" % jids['lost'] in res['msg'], what

        # the re-run (the network is back) attaches to the job, which ran once
        again = run_playbook('lost_connection.yml', inventory=inventory,
                             extra_vars=dict(evars, phase='again'), env=env).load('again')
        rerun = again['started']['results'][0]
        assert (rerun['attached'], rerun['ansible_job_id'], rerun['state']) == (
            True, jids['lost'], 'running'), rerun
        assert len(lines(counter)) == 1, lines(counter)
    finally:
        for jid in jids.values():
            kill_job(jid)
