# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller dies while it waits for a named job; a re-run must attach to it.

The design's Example 2 (find by name, start when not started, async_alias, wait by
name, cleanup) is started with its whole process group in a new session, killed with
SIGKILL once the job runs under its name and the wait task polls, and run again. The
job must survive the controller, the re-run must find it by name (same jid, still
running), wait for it and get its output, and its command must have run exactly once.
Locally (as root) and over SSH with become to the unprivileged ajjob (killing the local
ssh clients does not stop the remote job: async_wrapper daemonized it).
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from _async_task_lib import kill_controller, live_processes, processes

RETRY_LINE = 'FAILED - RETRYING: [%s]: Wait for task to finish'


def _processes(match):
    """{pid: (uid, sid, argv)} of the live (non-zombie) processes whose argv matches."""
    found = {}
    for pid, fields, argv in live_processes():
        if match(argv):
            try:
                found[pid] = (os.stat('/proc/%d' % pid).st_uid, int(fields[3]), argv)
            except OSError:
                continue  # gone
    return found


def _wrapper_processes(jid):
    prefix = jid.split('.', 1)[0]
    return _processes(lambda argv: any(a.endswith('async_wrapper.py') for a in argv) and prefix in argv)


def _shell_processes(release):
    return _processes(lambda argv: any(str(release) in a for a in argv))


def _group_members(pgid):
    """Live (non-zombie) processes of the process group ``pgid``."""
    return [pid for pid, fields, _argv in live_processes() if int(fields[2]) == pgid]


def _wait_for(cond, timeout, what, proc=None, log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail('ansible-playbook exited (rc %s) before %s\n%s'
                        % (proc.returncode, what, log.read_text() if log else ''))
        time.sleep(0.1)
    pytest.fail('timed out after %ss waiting for %s\n%s' % (timeout, what, log.read_text() if log else ''))


def _stop_masters(cp_dir):
    for name in os.listdir(cp_dir):
        subprocess.run(['ssh', '-O', 'exit', '-o', 'ControlPath=%s' % os.path.join(cp_dir, name), 'x'],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                       check=False)  # best effort: the master may already be gone
    shutil.rmtree(cp_dir, ignore_errors=True)


def _lines(path):
    with open(str(path)) as f:
        return f.read().splitlines()


@pytest.mark.parametrize('where', ['local', pytest.param('ssh', marks=pytest.mark.matrix)])
def test_rerun_after_controller_crash_attaches_to_same_job(
        request, where, run_playbook, ansible_playbook, installed_collection, session_dir,
        test_dirs, async_dir, ansible_version):
    ssh = where == 'ssh'
    if ssh:
        target = request.getfixturevalue('ssh_target')
        host, job_uid = target.host, target.uid(target.job_user)
        inventory = request.getfixturevalue('ssh_inventory')
        # A ControlPersist master of our own: killing ours must not cut the connections
        # of concurrent tests (they share ~/.ansible/cp), and it is stopped at the end.
        cp_dir = tempfile.mkdtemp(prefix='ajcp-', dir='/tmp')
        request.addfinalizer(lambda: _stop_masters(cp_dir))
        env = {'ANSIBLE_SSH_CONTROL_PATH_DIR': cp_dir}
    else:
        host, job_uid = 'localhost', os.getuid()
        inventory = request.getfixturevalue('local_inventory')
        env = {}

    alias = 'crash-%s' % uuid.uuid4().hex[:12]
    counter = test_dirs.root / 'counter'
    release = test_dirs.root / 'release'
    link = os.path.join(async_dir, 'jid_' + alias)
    evars = {'job_alias': alias, 'counter_file': str(counter), 'release_file': str(release),
             'job_become': ssh}

    # --- run 1, in its own session, as run_playbook would run it --------------------------
    evars_file = test_dirs.root / 'extra-vars-crash.json'
    evars_file.write_text(json.dumps(dict(evars, run=1, out_dir=str(test_dirs.out_dir),
                                          ansible_async_dir=async_dir)))
    run_env = dict(os.environ, ANSIBLE_CONFIG=str(session_dir / 'ansible.cfg'),
                   ANSIBLE_COLLECTIONS_PATH=str(installed_collection.parents[2]),
                   ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='False', ANSIBLE_FORCE_COLOR='0',
                   ANSIBLE_NOCOLOR='1', ANSIBLE_HOST_KEY_CHECKING='False',
                   ANSIBLE_RETRY_FILES_ENABLED='False', PYTHONDONTWRITEBYTECODE='1', **env)
    log = test_dirs.root / 'run1.log'
    playbook = os.path.join(os.path.dirname(__file__), 'playbooks', 'crash_named_job.yml')
    with open(str(log), 'w') as out:
        proc = subprocess.Popen([ansible_playbook, '-i', str(inventory), '-e', '@%s' % evars_file,
                                 playbook], cwd=os.path.dirname(__file__), env=run_env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    pgid = os.getpgid(proc.pid)
    assert pgid == proc.pid
    flag = bool if ansible_version >= (2, 19) else int
    try:
        _wait_for(lambda: os.path.islink(link) and RETRY_LINE % host in log.read_text(), 90,
                  'the job to be named and the wait task to poll', proc, log)
        kill_controller(pgid)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        _wait_for(lambda: not _group_members(pgid), 10, 'the killed process group to be gone')
        # the workers too (2.19+ starts them in sessions of their own): none finishes its task
        _wait_for(lambda: not processes(lambda argv: '@%s' % evars_file in argv), 10,
                  'the killed controller\'s workers to be gone')

        found1 = json.loads((test_dirs.out_dir / 'found_1.json').read_text())
        start1 = json.loads((test_dirs.out_dir / 'start_1.json').read_text())
        assert found1['state'] == 'absent'
        jid = start1['ansible_job_id']
        assert os.readlink(link) == jid
        assert not (test_dirs.out_dir / 'final_1.json').exists()

        # the job outlived the controller: its wrapper (watcher and runner) and its command
        wrappers = _wrapper_processes(jid)
        shells = _shell_processes(release)
        assert len(wrappers) == 2, wrappers
        assert shells, 'the job\'s command is not running'
        for pid, (uid, sid, _argv) in list(wrappers.items()) + list(shells.items()):
            assert uid == job_uid, (pid, uid, job_uid)
            assert sid != pgid                     # another session than the controller's
        with open(os.path.join(async_dir, jid)) as f:
            state = json.load(f)
        # the wrapper's first record, untouched (true/false from 2.19, 1/0 before)
        assert state == {'started': flag(1), 'finished': flag(0), 'ansible_job_id': jid}
        assert [type(state['started']), type(state['finished'])] == [type(flag(1))] * 2
        assert _lines(counter) == ['run']

        # --- run 2: the same playbook attaches to the same job ---------------------------
        r = run_playbook('crash_named_job.yml', inventory=where, extra_vars=dict(evars, run=2),
                         env=env)
        found2, start2 = r.load('found_2'), r.load('start_2')
        final, cleaned = r.load('final_2'), r.load('cleaned_2')

        assert found2['state'] == 'running'
        assert found2['ansible_job_id'] == jid
        assert found2['ansible_job_alias'] == alias
        assert start2['skipped'] is True
        assert final['state'] == 'succeeded'
        assert final['ansible_job_id'] == jid
        assert final['finished'] == flag(1) and type(final['finished']) is type(flag(1))
        assert final['rc'] == 0
        assert final['stdout'] == 'Hello\ndone'
        assert final['stdout_lines'] == ['Hello', 'done']
        assert cleaned['erased'] == [link]
        assert _lines(counter) == ['run']           # the command ran exactly once
        assert sorted(os.listdir(async_dir)) == [jid]
        _wait_for(lambda: not _wrapper_processes(jid) and not _shell_processes(release), 10,
                  'the job\'s processes to exit')
    finally:
        release.touch()                             # never leave a job blocked
        if proc.poll() is None:
            kill_controller(pgid)
            proc.wait()
