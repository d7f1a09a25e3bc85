# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/start.py: the one-step start of a named job
(what the start runner of plugins/plugin_utils/_start.py runs on the host).

Covers wrapper_jid_prefix, run_wrapper, start (start, name, attach, failures, a crash
before or after the wrapper ran, another run's claim), remove_job_tmpdir,
make_executable, start_named_job and start_main. Jobs are started with ansible-core's
real async_wrapper (unit_helpers.JobDir: the one installed with the ansible-core that
runs the tests) on a small Python script as the job's module, in a real tmp dir named
like Ansible's; the concurrency test has several processes start one name at the same
moment.
"""

import base64
import io
import multiprocessing
import os
import shlex
import shutil
import stat
import sys
import time
import zlib

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    job_status as files, kill as killing, start as starting, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors, names

from unit_helpers import (alive, claim_of, FakeClock, job_finished, JobDir, make_proc, name_of,
                          never, wait_until, wrapper_argv, write_claim, write_job)


JID = 'j123456789012.4242'
RUNNING = {'started': 1, 'finished': 0, 'ansible_job_id': JID}
SUCCEEDED = {'rc': 0, 'stdout': 'done', 'changed': True}
TMP = '/root/.ansible/tmp/ansible-tmp-1700000000.12-345-67890'


def refuse_to_run(cmd):
    raise AssertionError('nothing must be started (%s)' % cmd)


def _fake_start(async_dir, prefix, jid_suffix='77', data=None):
    """What async_wrapper does, without a process: the job file, then the reply."""
    jid = '%s.%s' % (prefix, jid_suffix)
    write_job(async_dir, jid, data or dict(RUNNING, ansible_job_id=jid))
    return dict(started=1, finished=0, ansible_job_id=jid,
                results_file=os.path.join(async_dir, jid))


def JobDir_cmd(job_dir, prefix):
    return job_dir.cmd.replace(' %s ' % job_dir.prefix, ' %s ' % prefix)


# --- wrapper_jid_prefix --------------------------------------------------------------------------

@pytest.mark.parametrize('cmd,prefix', [
    # 2.9-2.20: " ".join of the arguments, the environment first
    ("ANSIBLE_ASYNC_DIR='~/.ansible_async' /usr/bin/python3 %s/async_wrapper.py j123 30 "
     "%s/AnsiballZ_command.py _" % (TMP, TMP), 'j123'),
    ('/usr/bin/python3 %s/async_wrapper.py 456 30 %s/AnsiballZ_command.py _ -preserve_tmp'
     % (TMP, TMP), '456'),
    # 2.21: quoted arguments, preserve_tmp as true/false, the module's own command after
    ("ANSIBLE_ASYNC_DIR=/x '/usr/bin/python3' '%s/async_wrapper.py' j789 30 false "
     "'%s/AnsiballZ_command.py' /usr/bin/python3 '%s/AnsiballZ_command.py'" % (TMP, TMP, TMP),
     'j789'),
])
def test_wrapper_jid_prefix(cmd, prefix):
    assert starting.wrapper_jid_prefix(cmd) == prefix


@pytest.mark.parametrize('cmd', [
    '/usr/bin/python3 %s/AnsiballZ_command.py' % TMP,           # no wrapper
    '/usr/bin/python3 %s/async_wrapper.py' % TMP,               # nothing after it
    '/usr/bin/python3 %s/async_wrapper.py j12x 30 m _' % TMP,   # not a prefix
    '/usr/bin/python3 %s/async_wrapper.py j1.2 30 m _' % TMP,   # a jid, not a prefix
    "/usr/bin/python3 '%s/async_wrapper.py j1 30" % TMP,        # unbalanced quote
    '',
])
def test_wrapper_jid_prefix_refuses(cmd):
    with pytest.raises(errors.JobError) as exc:
        starting.wrapper_jid_prefix(cmd)
    assert 'async_wrapper' in exc.value.msg


# --- run_wrapper ---------------------------------------------------------------------------------

def test_run_wrapper_starts_a_real_job(job_dir, async_dir):
    reply = starting.run_wrapper(job_dir.cmd)
    jid = reply['ansible_job_id']
    assert jid.startswith(job_dir.prefix + '.') and names.JID_RE.match(jid)
    assert reply['started'] in (1, True) and not reply['failed']
    assert reply['results_file'] == os.path.join(async_dir, jid)
    data = wait_until(lambda: job_finished(async_dir, jid), what='the job to finish')
    assert data['rc'] == 0 and data['stdout'] == 'done'
    # the watcher removes the job's tmp dir when the job ends
    wait_until(lambda: not os.path.exists(job_dir.tmpdir), what='the tmp dir to go')


def test_run_wrapper_env_reaches_the_job(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir)
    with open(job.module, 'w') as f:
        f.write('#!%s\nimport json, os\nprint(json.dumps(dict(rc=0, marker=os.environ.get('
                '"AJ_MARKER"))))\n' % sys.executable)
    reply = starting.run_wrapper(job.cmd, env=dict(os.environ, AJ_MARKER='seen'))
    data = wait_until(lambda: job_finished(async_dir, reply['ansible_job_id']))
    assert data['marker'] == 'seen'


@pytest.mark.parametrize('shell,seen', [(None, ''), ('/bin/bash', 'bash')])
def test_run_wrapper_runs_the_given_shell(shell, seen):
    """ansible_shell_executable runs the wrapper command, as _low_level_execute_command
    runs native's; /bin/sh without one."""
    reply = starting.run_wrapper('printf \'{"shell": "%s"}\' "${BASH_VERSION:+bash}"', shell=shell)
    assert reply == {'shell': seen}


@pytest.mark.parametrize('cmd,env', [
    ("ANSIBLE_ASYNC_DIR='~/.ansible_async' /usr/bin/python3 /t/async_wrapper.py j1 30 /t/m.py _",
     {'ANSIBLE_ASYNC_DIR': '~/.ansible_async'}),
    ("A=1 B='two words' HOME=/h python3 /t/async_wrapper.py j1 30",
     {'A': '1', 'B': 'two words', 'HOME': '/h'}),
    ("/usr/bin/python3 /t/async_wrapper.py X=1 j1 30", {}),
    ("A=%s python3 /t/async_wrapper.py j1 30" % ('x' * 80000), {'A': 'x' * 80000}),
])
def test_wrapper_env(cmd, env):
    assert starting.wrapper_env(cmd) == env


@pytest.mark.parametrize('cmd,why', [
    ('exit 3', 'async_wrapper did not start the job (rc 3): no output'),
    ('echo not json; echo oops >&2; exit 1', 'async_wrapper did not start the job (rc 1): oops'),
    ('echo "{broken"', 'async_wrapper did not start the job (rc 0): {broken'),
])
def test_run_wrapper_without_reply(cmd, why):
    reply = starting.run_wrapper(cmd)
    assert reply['failed'] is True and reply['msg'] == why


def test_run_wrapper_failure_reply_is_kept():
    reply = starting.run_wrapper('echo "junk"; echo \'{"failed": true, "msg": "could not create"}\'')
    assert reply == {'failed': True, 'msg': 'could not create'}


# --- start: start, name, attach ------------------------------------------------------------------

def test_start_starts_and_names_the_job(job_dir, async_dir):
    found = starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd)
    jid = found['ansible_job_id']
    assert found['action'] == 'start' and jid.startswith(job_dir.prefix + '.')
    assert name_of(async_dir, 'build') == jid
    assert claim_of(async_dir, 'build') is None
    assert sorted(os.listdir(async_dir)) == sorted([jid, 'jid_build', '.jid_build.lock',
                                                    '.%s.meta' % jid])
    wait_until(lambda: job_finished(async_dir, jid))


def test_start_running_name_attaches(job_dir, async_dir):
    write_job(async_dir, JID, RUNNING)
    os.symlink(JID, names.alias_path(async_dir, 'build'))
    found = starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd, run=refuse_to_run,
                           liveness=alive)
    assert (found['action'], found['ansible_job_id']) == ('attach', JID)
    assert found['status']['state'] == 'running'
    assert claim_of(async_dir, 'build') is None


@pytest.mark.parametrize('waiting,action', [(True, 'attach'), (False, 'start')])
def test_start_finished_name(job_dir, async_dir, waiting, action):
    """A finished job's outcome is attached to by a run that waits; one that does not wait
    starts the job again."""
    write_job(async_dir, JID, SUCCEEDED)
    os.symlink(JID, names.alias_path(async_dir, 'build'))
    started = []
    found = starting.start(async_dir, 'build', 'tokA', waiting, job_dir.cmd,
                           run=lambda cmd: started.append(cmd) or _fake_start(async_dir, job_dir.prefix),
                           liveness=never)
    assert found['action'] == action
    assert len(started) == (0 if waiting else 1)


def test_start_failed_wrapper_frees_the_claim(job_dir, async_dir):
    found = starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd,
                           run=lambda cmd: dict(failed=True, msg='could not create directory'),
                           liveness=never)
    assert found == dict(action='failed', reply=dict(failed=True, msg='could not create directory'),
                         status=None, job_started=False)
    assert claim_of(async_dir, 'build') is None and name_of(async_dir, 'build') is None


@pytest.mark.parametrize('jid', ['j1.2', 'nonsense', 42])
def test_start_unexpected_job_id(job_dir, async_dir, jid):
    found = starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd,
                           run=lambda cmd: dict(started=1, ansible_job_id=jid), liveness=never)
    assert found['action'] == 'failed'
    assert found['reply']['msg'] == 'async_wrapper returned an unexpected job id %r' % (jid,)
    assert claim_of(async_dir, 'build') is None and name_of(async_dir, 'build') is None


def test_start_job_file_never_written(job_dir, async_dir, tmp_path):
    """The wrapper said it started the job, but no file came and no process of it lives."""
    noproc = make_proc(tmp_path / 'proc', {})
    jid = job_dir.prefix + '.77'
    found = starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd, proc=noproc,
                           run=lambda cmd: dict(started=1, ansible_job_id=jid), liveness=never)
    assert found['action'] == 'failed'
    assert found['reply']['msg'] == (
        'async_wrapper started job %s, but its processes ended without writing its job file %s'
        % (jid, os.path.join(async_dir, jid)))
    assert claim_of(async_dir, 'build') is None and name_of(async_dir, 'build') is None


def test_start_waits_for_a_late_job_file(job_dir, async_dir, tmp_path):
    """The launcher may answer before its runner wrote the job file (it waits 2.5 s at
    most): the file is waited for while the wrapper's processes live."""
    jid = job_dir.prefix + '.77'
    wrapper = make_proc(tmp_path / 'proc', {4242: wrapper_argv(job_dir.prefix)})
    c = FakeClock(on_sleep=lambda n: n == 5 and write_job(async_dir, jid, RUNNING))
    found = starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd, proc=wrapper,
                           run=lambda cmd: dict(started=1, ansible_job_id=jid), liveness=never,
                           clock=c.clock, sleep=c.sleep)
    assert (found['action'], found['ansible_job_id']) == ('start', jid)
    assert c.sleeps == [0.05] * 5
    assert name_of(async_dir, 'build') == jid


def test_start_crash_after_the_wrapper_keeps_the_claim(job_dir, async_dir):
    """Dying between the start and the naming leaves the claim with the jid prefix; the
    next run names that job and attaches to it at once (nothing is started twice)."""
    def crash(cmd):
        _fake_start(async_dir, job_dir.prefix)
        raise KeyboardInterrupt('controller gone')
    with pytest.raises(KeyboardInterrupt):
        starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd, run=crash, liveness=never)
    claim = claim_of(async_dir, 'build')
    assert claim['token'] == 'tokA' and claim['jid_prefix'] == job_dir.prefix
    assert name_of(async_dir, 'build') is None
    found = starting.start(async_dir, 'build', 'tokB', False, JobDir_cmd(job_dir, 'j999'),
                           run=refuse_to_run, liveness=alive)
    assert found['action'] == 'attach' and found['recovered_claim'] is True
    assert found['ansible_job_id'] == job_dir.prefix + '.77'
    assert name_of(async_dir, 'build') == job_dir.prefix + '.77'
    assert claim_of(async_dir, 'build') is None


def test_start_crash_before_the_wrapper_frees_the_claim(job_dir, async_dir):
    def crash(cmd):
        raise KeyboardInterrupt('controller gone')
    with pytest.raises(KeyboardInterrupt):
        starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd, run=crash, liveness=never)
    assert claim_of(async_dir, 'build') is None


def test_several_step_claim_is_still_waited_for(job_dir, async_dir, tmp_path):
    """A fresh claim without a jid prefix (a start in several steps, whose writer does not
    hold the lock in between) is waited for, up to ``hold``."""
    noproc = make_proc(tmp_path / 'proc', {})
    write_claim(async_dir, 'build', 'tokA', when=time.time())
    c = FakeClock(now=time.time())
    found = starting.start(async_dir, 'build', 'tokB', False, job_dir.cmd, run=refuse_to_run,
                           liveness=never, proc=noproc, hold=1.0, clock=c.clock, sleep=c.sleep)
    assert found['action'] == 'claimed'
    assert c.sleeps == [0.2] * 5
    assert claim_of(async_dir, 'build')['token'] == 'tokA'


# --- failures after the start: the job, its claim and its tmp dir stay ------------------------------

def test_naming_that_fails_after_the_start_keeps_what_the_job_needs(tmp_path, async_dir):
    """A directory sits where the name's link goes: the job runs, its tmp dir stays (it
    holds the job's files), the claim records its prefix, and the failure names the job.
    Once the obstacle is gone, the next run names that job and attaches to it."""
    job = JobDir(tmp_path, async_dir, seconds=30)
    os.mkdir(os.path.join(async_dir, 'jid_build'))
    with pytest.raises(starting.StartFailed) as failed:
        starting.start_named_job(async_dir, 'build', 'tokA', False, job.cmd,
                                 tmpdir=job.tmpdir, remove_tmp=True)
    result = failed.value.result
    jid = result['ansible_job_id']
    try:
        assert jid.startswith(job.prefix + '.')
        assert (result['job_started'], result['ansible_job_alias']) == (True, 'build')
        assert failed.value.msg.startswith('job %s was started and keeps running on the host, '
                                           'but naming it failed: ' % jid)
        assert failed.value.msg.endswith("The claim on the name 'build' records the job: running "
                                         "the task again names it and attaches to it (nothing "
                                         "else is started)")
        assert 'tmpdir_removed' not in result and os.path.isdir(job.tmpdir)
        assert claim_of(async_dir, 'build')['jid_prefix'] == job.prefix
        assert files.job_status(async_dir, jid=jid)['state'] == 'running'
        os.rmdir(os.path.join(async_dir, 'jid_build'))
        again = starting.start_named_job(async_dir, 'build', 'tokB', False,
                                         JobDir_cmd(job, 'j999'))
        assert (again['action'], again['ansible_job_id'], again['job_started']) == (
            'attach', jid, False)
        assert name_of(async_dir, 'build') == jid and claim_of(async_dir, 'build') is None
    finally:
        killing.kill(async_dir, jid, 'KILL', grace=0)


def test_a_wrapper_without_job_file_is_never_declared_dead(job_dir, async_dir, tmp_path,
                                                           monkeypatch):
    """The wrapper's processes live and no job file comes within the start's patience:
    the start fails without dropping the claim (whether the job runs cannot be told yet),
    and the next run waits for it instead of starting a second job."""
    proc = make_proc(tmp_path / 'proc', {4242: wrapper_argv(job_dir.prefix)})
    monkeypatch.setattr(starting, 'run_wrapper', lambda cmd, env=None, shell=None, **_kw: dict(
        started=1, ansible_job_id=job_dir.prefix + '.4242'))
    c = FakeClock()
    with pytest.raises(starting.StartFailed) as failed:
        starting.start_named_job(async_dir, 'build', 'tokA', False, job_dir.cmd, proc=proc,
                                 clock=c.clock, sleep=c.sleep, tmpdir=job_dir.tmpdir,
                                 remove_tmp=True)
    assert failed.value.result['job_started'] is None
    assert 'whether the job runs cannot be told yet' in failed.value.msg
    assert sum(c.sleeps) >= 30.0  # the start's patience, then it reports; nothing decided
    assert claim_of(async_dir, 'build')['jid_prefix'] == job_dir.prefix
    assert os.path.isdir(job_dir.tmpdir)
    found = starting.start(async_dir, 'build', 'tokB', False, JobDir_cmd(job_dir, 'j999'),
                           run=refuse_to_run, proc=proc, clock=c.clock, sleep=c.sleep)
    assert (found['action'], found['pending_prefix']) == ('claimed', job_dir.prefix)
    assert claim_of(async_dir, 'build')['token'] == 'tokA'


def test_reading_the_status_that_fails_after_the_start_names_the_job(
        job_dir, async_dir, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError('disk gone')
    monkeypatch.setattr(starting, 'job_status', broken)
    with pytest.raises(starting.StartFailed) as failed:
        starting.start_named_job(async_dir, 'build', 'tokA', False, job_dir.cmd)
    result = failed.value.result
    assert (result['job_started'], result['attached']) == (True, False)
    assert name_of(async_dir, 'build') == result['ansible_job_id']
    assert failed.value.msg == (
        "job %s named 'build' was started and keeps running on the host, but reading its "
        "status failed: OSError: disk gone. Running the task again attaches to it (or "
        "async_wait with alias=build)" % result['ansible_job_id'])


def test_start_main_reports_a_failure_after_the_start(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir, seconds=30)
    os.mkdir(os.path.join(async_dir, 'jid_build'))
    result = starting.start_main(dict(alias='build', token='tokA', waiting=False,
                                      _async_dir=async_dir, tmpdir=job.tmpdir, remove_tmp=True,
                                      wrapper_cmd=job.cmd), environ=dict(os.environ))
    try:
        assert result['failed'] is True and result['job_started'] is True
        assert result['ansible_job_id'].startswith(job.prefix + '.')
        assert os.path.isdir(job.tmpdir)
    finally:
        killing.kill(async_dir, result['ansible_job_id'], 'KILL', grace=0)


# --- remove_job_tmpdir, make_executable ----------------------------------------------------------

def test_remove_job_tmpdir(job_dir):
    assert starting.remove_job_tmpdir(job_dir.tmpdir, job_dir.cmd) is True
    assert not os.path.exists(job_dir.tmpdir)


def test_remove_job_tmpdir_refuses(job_dir, tmp_path):
    other = tmp_path / 'ansible-tmp-other'
    other.mkdir()
    link = tmp_path / 'ansible-tmp-link'
    link.symlink_to(job_dir.tmpdir)
    for tmpdir, cmd in [
            (str(other), job_dir.cmd),                                  # not the wrapper's dir
            (os.path.relpath(job_dir.tmpdir), job_dir.cmd),             # relative
            (str(tmp_path), job_dir.cmd.replace(job_dir.tmpdir, str(tmp_path))),  # not ansible-tmp-*
            (job_dir.tmpdir, 'true'),                                   # no wrapper
            (str(link), job_dir.cmd.replace(job_dir.tmpdir, str(link))),          # a symlink
    ]:
        with pytest.raises(errors.JobError) as exc:
            starting.remove_job_tmpdir(tmpdir, cmd)
        assert exc.value.msg.startswith('refusing to remove %s: ' % os.path.normpath(tmpdir))
    assert os.path.isfile(job_dir.wrapper) and other.is_dir()


def test_make_executable(job_dir):
    os.chmod(job_dir.module, 0o600)
    os.chmod(job_dir.tmpdir, 0o600)
    starting.make_executable(job_dir.tmpdir, [job_dir.tmpdir, job_dir.module])
    assert stat.S_IMODE(os.stat(job_dir.module).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(job_dir.tmpdir).st_mode) == 0o700


def test_make_executable_refuses_outside(job_dir, tmp_path):
    outside = tmp_path / 'outside'
    outside.write_text('x')
    os.chmod(str(outside), 0o600)
    with pytest.raises(errors.JobError) as exc:
        starting.make_executable(job_dir.tmpdir, [str(outside)])
    assert exc.value.msg == ('refusing to change the mode of %s: it is not in the remote tmp dir %s'
                             % (outside, job_dir.tmpdir))
    assert stat.S_IMODE(os.stat(str(outside)).st_mode) == 0o600


# --- start_named_job -----------------------------------------------------------------------------

def test_start_named_job_starts_and_waits(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir, seconds=0.5)
    os.chmod(job.module, 0o600)
    result = starting.start_named_job(async_dir, 'build', 'tokA', True, job.cmd, wait=15.0,
                                      tmpdir=job.tmpdir, remove_tmp=True, chmod=[job.module])
    status = result['status']
    assert result['action'] == 'start' and result['tmpdir_removed'] is False
    assert status['state'] == 'succeeded' and status['stdout'] == 'done'
    assert status['released'] == [names.alias_path(async_dir, 'build')]
    assert status['ansible_job_alias'] == 'build' and 0 < status['waited'] < 15
    # freed only once the result has left the host
    assert name_of(async_dir, 'build') == result['ansible_job_id']
    out = io.StringIO()
    changes.deliver_then_release(dict(ok=True), out, result.pop('_release'))
    assert out.getvalue() == '{"ok": true}'
    assert name_of(async_dir, 'build') is None


class BrokenPipe(object):
    def write(self, data):
        raise BrokenPipeError(32, 'Broken pipe')

    def flush(self):
        pass


def test_a_result_that_cannot_leave_the_host_frees_no_name(tmp_path, async_dir):
    """The connection dropped during the wait: the result cannot be written, so the name
    stays, and the next run returns this outcome instead of starting the job again."""
    job = JobDir(tmp_path, async_dir, seconds=0.2)
    result = starting.start_named_job(async_dir, 'build', 'tokA', True, job.cmd, wait=15.0)
    jid = result['ansible_job_id']
    with pytest.raises(BrokenPipeError):
        changes.deliver_then_release(result, BrokenPipe(), result.pop('_release'))
    assert name_of(async_dir, 'build') == jid
    again = starting.start_named_job(async_dir, 'build', 'tokB', True,
                                     JobDir_cmd(job, 'j999'), wait=15.0)
    assert (again['action'], again['ansible_job_id']) == ('attach', jid)
    assert again['status']['state'] == 'succeeded'


def test_start_named_job_without_waiting(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir, seconds=30)
    result = starting.start_named_job(async_dir, 'build', 'tokA', False, job.cmd, wait=15.0)
    status = result['status']
    jid = result['ansible_job_id']
    assert status['state'] == 'running' and 'waited' not in status
    assert name_of(async_dir, 'build') == jid
    # the next run attaches, and removes the tmp dir made for the job it did not start
    (tmp_path / 'again').mkdir()
    again = JobDir(tmp_path / 'again', async_dir)
    result2 = starting.start_named_job(async_dir, 'build', 'tokB', False, again.cmd,
                                       tmpdir=again.tmpdir, remove_tmp=True)
    assert (result2['action'], result2['ansible_job_id']) == ('attach', jid)
    assert result2['tmpdir_removed'] is True and not os.path.exists(again.tmpdir)
    assert result2['status']['state'] == 'running'
    killing.kill(async_dir, jid, 'KILL', grace=0)


def test_start_named_job_reads_a_job_it_started_without_a_process_scan(tmp_path, async_dir):
    """A job this process has just started is running by construction: its status costs no
    scan of the process table. A job found under the name (attach) is scanned for."""
    asked = []

    def liveness(jid, owner_uid=None):
        asked.append(jid)
        return True, [1], None
    job = JobDir(tmp_path, async_dir, seconds=30)
    result = starting.start_named_job(async_dir, 'build', 'tokA', False, job.cmd,
                                      liveness=liveness)
    jid = result['ansible_job_id']
    assert (result['action'], result['status']['state']) == ('start', 'running')
    assert asked == []
    (tmp_path / 'again').mkdir()
    again = JobDir(tmp_path / 'again', async_dir)
    result2 = starting.start_named_job(async_dir, 'build', 'tokB', False, again.cmd,
                                       liveness=liveness)
    assert (result2['action'], result2['ansible_job_id']) == ('attach', jid)
    assert asked == [jid]
    killing.kill(async_dir, jid, 'KILL', grace=0)


def test_start_named_job_failed_job_is_not_released_without_cleanup(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir, rc=2)
    result = starting.start_named_job(async_dir, 'build', 'tokA', True, job.cmd, wait=15.0,
                                      cleanup=False)
    assert result['status']['state'] == 'failed' and result['status']['released'] == []
    assert name_of(async_dir, 'build') == result['ansible_job_id']


# --- concurrency: one job for many starters ------------------------------------------------------

def _starter(async_dir, base, token, barrier, results):
    try:
        job = JobDir(os.path.join(base, token), async_dir, seconds=5)
        barrier.wait(30)
        found = starting.start(async_dir, 'build', token, False, job.cmd)
        results.put((token, found['action'], found.get('ansible_job_id')))
    except BaseException as e:  # report, do not hang the test
        results.put((token, 'error: %r' % (e,), None))


@pytest.mark.skipif('fork' not in multiprocessing.get_all_start_methods(),
                    reason='needs the fork start method')
def test_start_concurrent_exactly_one_job(tmp_path, async_dir):
    n = 8
    for i in range(n):
        os.mkdir(str(tmp_path / ('tok%d' % i)))
    ctx = multiprocessing.get_context('fork')
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    workers = [ctx.Process(target=_starter, args=(async_dir, str(tmp_path), 'tok%d' % i, barrier,
                                                  results)) for i in range(n)]
    for p in workers:
        p.start()
    try:
        got = [results.get(timeout=60) for _i in range(n)]
    finally:
        for p in workers:
            p.join(30)
    actions = sorted(a for _t, a, _j in got)
    assert actions == ['attach'] * (n - 1) + ['start'], got
    jids = set(j for _t, _a, j in got)
    assert len(jids) == 1
    jid = jids.pop()
    assert name_of(async_dir, 'build') == jid
    assert sorted(n for n in os.listdir(async_dir) if names.JID_RE.match(n)) == [jid]
    killing.kill(async_dir, jid, 'KILL', grace=0)


# --- start_main: the start runner's entry point --------------------------------------------------

def test_start_main_starts_the_job(job_dir, async_dir):
    result = starting.start_main(dict(alias='build', token='tokA', waiting=True, wait=15.0,
                                      _async_dir=async_dir, tmpdir=job_dir.tmpdir, remove_tmp=True,
                                      chmod=[job_dir.module], wrapper_cmd=job_dir.cmd),
                                 environ=dict(os.environ))
    assert result['action'] == 'start' and result['changed'] is True
    assert result['status']['state'] == 'succeeded' and result['status']['stdout'] == 'done'


def test_start_main_expands_the_async_dir(job_dir, tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    cmd = job_dir.cmd.replace('ANSIBLE_ASYNC_DIR=%s' % shlex.quote(job_dir.async_dir),
                              "ANSIBLE_ASYNC_DIR='~/jobs'")
    result = starting.start_main(dict(alias='build', token='tokA', waiting=True, wait=15.0,
                                      _async_dir='~/jobs', wrapper_cmd=cmd),
                                 environ=dict(os.environ))
    jid = result['ansible_job_id']
    # the runner and async_wrapper agree on the dir: ~ of the same user
    assert result['status']['results_file'] == str(tmp_path / 'jobs' / jid)
    assert (tmp_path / 'jobs' / jid).is_file()


@pytest.mark.parametrize('args,env,msg', [
    (dict(alias='build', token='t', waiting=False, _async_dir='/x'), {},
     "the start runner's missing required argument: wrapper_cmd"),
    (dict(alias='build', token='t', waiting=False, _async_dir='/x', wrapper_cmd="A='x"), {},
     'cannot read the async_wrapper command line: No closing quotation'),
    (dict(alias='../x', token='t', waiting=False, _async_dir='/x', wrapper_cmd='true'), {},
     'invalid alias \'../x\': use only letters, digits, "_", "-" and ".", not starting with '
     '".", at most 128 characters'),
])
def test_start_main_bad_input(tmp_path, args, env, msg):
    result = starting.start_main(args, environ=env)
    assert result['failed'] is True and result['msg'] == msg
    assert result['job_started'] is False
    assert not os.path.exists('/x')


# --- the job's files staged with the runner (pipelining) -----------------------------------------

STAGE_NAME = 'ansible-tmp-1700000000.5-77-12345'
PLACEHOLDER = starting.staged_tmpdir(STAGE_NAME)


def _packed(data):
    return base64.b64encode(zlib.compress(data, 1)).decode('ascii')


def staged_job(tmp_path, async_dir, seconds=0.0, prefix=None):
    """(stage, wrapper command) of a job whose files travel with the runner: JobDir's files,
    and its command with the placeholder dir where the tmp dir was."""
    (tmp_path / 'model').mkdir()
    model = JobDir(tmp_path / 'model', async_dir, seconds=seconds, prefix=prefix)
    files = {}
    for name in os.listdir(model.tmpdir):
        with open(os.path.join(model.tmpdir, name), 'rb') as f:
            files[name] = _packed(f.read())
    shutil.rmtree(model.tmpdir)
    base = tmp_path / 'remote_tmp'
    stage = dict(name=STAGE_NAME, bases=[str(base)], files=files)
    return stage, model.cmd.replace(model.tmpdir, PLACEHOLDER), base


@pytest.mark.parametrize('base,expected', [
    ('~/.ansible/tmp', '/home/u/.ansible/tmp'),
    ('~', '/home/u'),
    ('$AJ_UNIT_BASE/tmp', '/srv/x/tmp'),
    ('/var/tmp/', '/var/tmp'),
    ('relative/tmp', None),
    ('~no-such-user-here/tmp', None),
])
def test_expand_tmp_base(monkeypatch, base, expected):
    monkeypatch.setenv('AJ_UNIT_BASE', '/srv/x')
    monkeypatch.setenv('HOME', '/elsewhere')  # ~ is the passwd home (given here), not $HOME
    assert starting.expand_tmp_base(base, home='/home/u') == expected


def test_expand_tmp_base_uses_the_passwd_home(monkeypatch):
    monkeypatch.setenv('HOME', '/not/the/home')
    import pwd
    assert starting.expand_tmp_base('~/t') == os.path.join(pwd.getpwuid(os.geteuid()).pw_dir, 't')


def test_make_stage_dir_takes_the_first_base_that_works(tmp_path):
    blocked = tmp_path / 'blocked'
    blocked.write_text('a file, not a dir')
    spaced = tmp_path / 'with space'
    good = tmp_path / 'good' / 'deeper'
    made = starting.make_stage_dir(STAGE_NAME, [str(blocked / 'sub'), str(spaced), str(good)])
    assert made == str(good / STAGE_NAME)
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(good)).st_mode) == 0o700  # made as mkdir -p under umask 077
    assert not spaced.exists()


def test_make_stage_dir_says_why_for_each_base(tmp_path):
    blocked = tmp_path / 'blocked'
    blocked.write_text('')
    with pytest.raises(errors.JobError) as exc:
        starting.make_stage_dir(STAGE_NAME, [str(blocked / 'x'), 'rel/tmp'])
    assert exc.value.msg.startswith('cannot make the job\'s tmp dir %s in any of %s: '
                                    % (STAGE_NAME, blocked / 'x'))
    assert 'rel/tmp: not an absolute path of letters, digits and _./+-' in exc.value.msg


@pytest.mark.parametrize('name', ['', 'tmp', 'ansible-tmp-1/../x', '../ansible-tmp-1.0-2-3'])
def test_make_stage_dir_refuses_other_names(tmp_path, name):
    with pytest.raises(errors.JobError) as exc:
        starting.make_stage_dir(name, [str(tmp_path)])
    assert 'not a name of the form ansible-tmp-*' in exc.value.msg
    assert os.listdir(str(tmp_path)) == []


def test_write_stage_files(tmp_path):
    target = tmp_path / STAGE_NAME
    target.mkdir()
    starting.write_stage_files(str(target), {
        'AnsiballZ_x.py': _packed(('ARGS = %r' % ('{"script": "%s/run.sh"}' % PLACEHOLDER))
                                  .encode()),
        'run.sh': _packed(b'#!/bin/sh\necho hi\n')}, PLACEHOLDER)
    payload = (target / 'AnsiballZ_x.py').read_text()
    assert payload == 'ARGS = %r' % ('{"script": "%s/run.sh"}' % target)
    assert (target / 'run.sh').read_bytes() == b'#!/bin/sh\necho hi\n'
    for name in ('AnsiballZ_x.py', 'run.sh'):
        assert stat.S_IMODE(os.stat(str(target / name)).st_mode) & 0o700 == 0o700


@pytest.mark.parametrize('files,why', [
    ({'../escape': 'eJwDAAAAAAE='}, "refusing to write '../escape' into the job's tmp dir"),
    ({'sub/x': 'eJwDAAAAAAE='}, "refusing to write 'sub/x' into the job's tmp dir"),
    ({'.hidden': 'eJwDAAAAAAE='}, "refusing to write '.hidden' into the job's tmp dir"),
    ({'x': 'not base64 or zlib'}, "the job's file x came damaged"),
])
def test_write_stage_files_refuses(tmp_path, files, why):
    target = tmp_path / STAGE_NAME
    target.mkdir()
    with pytest.raises(errors.JobError) as exc:
        starting.write_stage_files(str(target), files)
    assert exc.value.msg.startswith(why)
    assert os.listdir(str(tmp_path)) == [STAGE_NAME] and os.listdir(str(target)) == []


def test_write_stage_files_never_writes_through_a_symlink(tmp_path):
    target = tmp_path / STAGE_NAME
    target.mkdir()
    victim = tmp_path / 'victim'
    victim.write_text('keep')
    os.symlink(str(victim), str(target / 'x'))
    with pytest.raises(OSError):
        starting.write_stage_files(str(target), {'x': _packed(b'overwritten')})
    assert victim.read_text() == 'keep'


def test_staged_start_writes_the_files_only_when_it_starts(tmp_path, async_dir):
    stage, cmd, base = staged_job(tmp_path, async_dir, seconds=30)
    result = starting.start_named_job(async_dir, 'build', 'tokA', False, cmd, stage=stage)
    jid = result['ansible_job_id']
    assert result['action'] == 'start' and result['status']['state'] == 'running'
    assert os.listdir(str(base)) == [STAGE_NAME]
    assert sorted(os.listdir(str(base / STAGE_NAME))) == sorted(stage['files'])
    # Attaching writes nothing: no dir, no file.
    (tmp_path / 'again').mkdir()
    stage2, cmd2, base2 = staged_job(tmp_path / 'again', async_dir, prefix='j999')
    again = starting.start_named_job(async_dir, 'build', 'tokB', False, cmd2, stage=stage2)
    assert (again['action'], again['ansible_job_id']) == ('attach', jid)
    assert again['tmpdir_removed'] is True and not base2.exists()
    killing.kill(async_dir, jid, 'KILL', grace=0)


def test_staged_start_runs_the_job_and_its_wrapper_removes_the_dir(tmp_path, async_dir):
    stage, cmd, base = staged_job(tmp_path, async_dir, seconds=0.2)
    result = starting.start_named_job(async_dir, 'build', 'tokA', True, cmd, wait=15.0,
                                      stage=stage)
    assert result['status']['state'] == 'succeeded' and result['status']['stdout'] == 'done'
    wait_until(lambda: not (base / STAGE_NAME).exists(), 10, 'async_wrapper to remove its dir')


def test_staged_start_that_cannot_make_its_dir_starts_nothing(tmp_path, async_dir):
    stage, cmd, _base = staged_job(tmp_path, async_dir)
    blocked = tmp_path / 'blocked'
    blocked.write_text('')
    stage['bases'] = [str(blocked / 'tmp')]
    with pytest.raises(starting.StartFailed) as exc:
        starting.start_named_job(async_dir, 'build', 'tokA', False, cmd, stage=stage)
    assert exc.value.result['job_started'] is False
    assert exc.value.msg.startswith('the job was not started (JobError: cannot make the job\'s '
                                    'tmp dir %s in any of ' % STAGE_NAME)
    assert "the name 'build' is free again: running the task again starts it" in exc.value.msg
    assert name_of(async_dir, 'build') is None and claim_of(async_dir, 'build') is None


def test_staged_start_refuses_a_command_without_the_placeholder(tmp_path, async_dir):
    stage, cmd, base = staged_job(tmp_path, async_dir)
    with pytest.raises(starting.StartFailed) as exc:
        starting.start_named_job(async_dir, 'build', 'tokA', False,
                                 cmd.replace(PLACEHOLDER, '/elsewhere'), stage=stage)
    assert 'does not run from the staged tmp dir %s' % PLACEHOLDER in exc.value.msg
    assert exc.value.result['job_started'] is False and not base.exists()
