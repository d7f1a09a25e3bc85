# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_async_control's one-step start (async_claim mode=start): wrapper_jid_prefix,
run_wrapper, start, start_named_job, the recovery of a one-step claim, await_job_of_prefix,
remove_job_tmpdir, make_executable and the lock's timeout.

Jobs are started with ansible-core's real async_wrapper (the one installed with the
ansible-core that runs the tests), on a small Python script as the job's module, in a real
tmp dir named like Ansible's; the concurrency test has several processes start one name
at the same moment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import multiprocessing
import os
import secrets
import shlex
import stat
import subprocess
import sys
import time

import pytest

import ansible.modules.async_wrapper as native_wrapper

from ansible_collections.asyncjobs.named.plugins.module_utils import _async_changes as changes
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_claims as claims
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_files as files
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_kill as killing
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_names as names
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_specs as specs
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_start as starting

from unit_helpers import alive, FakeClock, make_proc, never, snapshot, wrapper_argv, write_job

WRAPPER_SOURCE = os.path.abspath(native_wrapper.__file__).replace('.pyc', '.py')
JID = 'j123456789012.4242'
RUNNING = {'started': 1, 'finished': 0, 'ansible_job_id': JID}
SUCCEEDED = {'rc': 0, 'stdout': 'done', 'changed': True}


# --- a real async_wrapper command line ------------------------------------------------------

class JobDir:
    """A remote tmp dir as Ansible makes it for an async job: async_wrapper.py and the job's
    module (a Python script that sleeps ``seconds``, then prints its JSON result)."""

    def __init__(self, base, async_dir, seconds=0.0, rc=0, prefix=None, limit=30):
        self.tmpdir = os.path.join(str(base), 'ansible-tmp-1700000000.1-%d-42' % os.getpid())
        os.mkdir(self.tmpdir, 0o700)
        self.wrapper = os.path.join(self.tmpdir, 'async_wrapper.py')
        with open(WRAPPER_SOURCE, 'rb') as src, open(self.wrapper, 'wb') as dst:
            dst.write(src.read())
        self.module = os.path.join(self.tmpdir, 'AnsiballZ_job.py')
        with open(self.module, 'w') as f:
            f.write('#!%s\nimport json, time\ntime.sleep(%r)\n'
                    'print(json.dumps(dict(rc=%d, stdout="done", failed=%r, changed=True)))\n'
                    % (sys.executable, seconds, rc, rc != 0))
        self.prefix = prefix or 'j%d' % (10 ** 11 + secrets.randbelow(9 * 10 ** 11))
        self.async_dir = async_dir
        self.cmd = 'ANSIBLE_ASYNC_DIR=%s %s %s %s %d %s _' % (
            shlex.quote(async_dir), sys.executable, self.wrapper, self.prefix, limit, self.module)


@pytest.fixture
def job_dir(tmp_path, async_dir):
    return JobDir(tmp_path, async_dir)


def wait_until(cond, timeout=20, what='the condition'):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError('timed out waiting for %s' % what)


def finished(async_dir, jid):
    job = files.read_job(names.job_path(async_dir, jid))
    return job.finished and job.data


def claim_of(async_dir, alias):
    return claims.read_claim(async_dir, alias)


def name_of(async_dir, alias):
    try:
        return os.readlink(names.alias_path(async_dir, alias))
    except OSError:
        return None


def write_claim(async_dir, alias, token, **extra):
    data = dict(token=token, time=time.time(), pid=12345)
    data.update(extra)
    changes.atomic_write_json(claims.claim_path(async_dir, alias), data)


def refuse_to_run(cmd):
    raise AssertionError('nothing must be started (%s)' % cmd)


# --- wrapper_jid_prefix -----------------------------------------------------------------------

TMP = '/root/.ansible/tmp/ansible-tmp-1700000000.12-345-67890'


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
    with pytest.raises(names.JobError) as exc:
        starting.wrapper_jid_prefix(cmd)
    assert 'async_wrapper' in exc.value.msg


# --- run_wrapper --------------------------------------------------------------------------------

def test_run_wrapper_starts_a_real_job(job_dir, async_dir):
    reply = starting.run_wrapper(job_dir.cmd)
    jid = reply['ansible_job_id']
    assert jid.startswith(job_dir.prefix + '.') and names.JID_RE.match(jid)
    assert reply['started'] in (1, True) and not reply['failed']
    assert reply['results_file'] == os.path.join(async_dir, jid)
    data = wait_until(lambda: finished(async_dir, jid), what='the job to finish')
    assert data['rc'] == 0 and data['stdout'] == 'done'
    # the watcher removes the job's tmp dir when the job ends
    wait_until(lambda: not os.path.exists(job_dir.tmpdir), what='the tmp dir to go')


def test_run_wrapper_env_reaches_the_job(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir)
    with open(job.module, 'w') as f:
        f.write('#!%s\nimport json, os\nprint(json.dumps(dict(rc=0, marker=os.environ.get('
                '"AJ_MARKER"), wrapper=os.environ.get("%s"))))\n' % (sys.executable, specs.WRAPPER_ENV))
    reply = starting.run_wrapper(job.cmd, env=dict(os.environ, AJ_MARKER='seen'))
    data = wait_until(lambda: finished(async_dir, reply['ansible_job_id']))
    assert data['marker'] == 'seen' and data['wrapper'] is None


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


# --- start: start, name, attach ---------------------------------------------------------------

def test_start_starts_and_names_the_job(job_dir, async_dir):
    found = starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd)
    jid = found['ansible_job_id']
    assert found['action'] == 'start' and jid.startswith(job_dir.prefix + '.')
    assert name_of(async_dir, 'build') == jid
    assert claim_of(async_dir, 'build') is None
    assert sorted(os.listdir(async_dir)) == sorted([jid, 'jid_build', '.jid_build.lock'])
    wait_until(lambda: finished(async_dir, jid))


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


def _fake_start(async_dir, prefix, jid_suffix='77', data=None):
    """What async_wrapper does, without a process: the job file, then the reply."""
    jid = '%s.%s' % (prefix, jid_suffix)
    h_write(async_dir, jid, data or dict(RUNNING, ansible_job_id=jid))
    return dict(started=1, finished=0, ansible_job_id=jid,
                results_file=os.path.join(async_dir, jid))


def h_write(async_dir, jid, data):
    with open(os.path.join(async_dir, jid), 'w') as f:
        json.dump(data, f)


def test_start_failed_wrapper_frees_the_claim(job_dir, async_dir):
    found = starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd,
                     run=lambda cmd: dict(failed=True, msg='could not create directory'),
                     liveness=never)
    assert found == dict(action='failed', reply=dict(failed=True, msg='could not create directory'),
                         status=None)
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
    c = FakeClock(on_sleep=lambda n: n == 5 and h_write(async_dir, jid, RUNNING))
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


def JobDir_cmd(job_dir, prefix):
    return job_dir.cmd.replace(' %s ' % job_dir.prefix, ' %s ' % prefix)


def test_start_crash_before_the_wrapper_frees_the_claim(job_dir, async_dir):
    def crash(cmd):
        raise KeyboardInterrupt('controller gone')
    with pytest.raises(KeyboardInterrupt):
        starting.start(async_dir, 'build', 'tokA', False, job_dir.cmd, run=crash, liveness=never)
    assert claim_of(async_dir, 'build') is None


# --- the claim left by a dead one-step start -------------------------------------------------

@pytest.mark.parametrize('data', [RUNNING, SUCCEEDED])
@pytest.mark.parametrize('waiting', [True, False])
def test_dead_one_step_claim_job_is_named_and_attached(async_dir, tmp_path, data, waiting):
    """Found by its jid prefix, running or finished since: never started twice."""
    noproc = make_proc(tmp_path / 'proc', {})
    h_write(async_dir, 'j444.55', dict(data, ansible_job_id='j444.55'))
    write_claim(async_dir, 'build', 'tokA', jid_prefix='j444')
    found = claims.prepare(async_dir, 'build', 'tokB', waiting, liveness=alive, proc=noproc)
    assert found['action'] == 'attach' and found['ansible_job_id'] == 'j444.55'
    assert found['recovered_claim'] is True
    assert name_of(async_dir, 'build') == 'j444.55' and claim_of(async_dir, 'build') is None


def test_dead_one_step_claim_without_job_is_dropped(async_dir, tmp_path):
    """Its writer died before the wrapper ran: the claim is void, whatever its age."""
    noproc = make_proc(tmp_path / 'proc', {})
    write_claim(async_dir, 'build', 'tokA', jid_prefix='j444')
    found = claims.prepare(async_dir, 'build', 'tokB', False, liveness=never, proc=noproc)
    assert found['action'] == 'start'
    assert claim_of(async_dir, 'build')['token'] == 'tokB'
    assert 'jid_prefix' not in claim_of(async_dir, 'build')


def test_dead_one_step_claim_check_mode_changes_nothing(async_dir, tmp_path):
    noproc = make_proc(tmp_path / 'proc', {})
    h_write(async_dir, 'j444.55', dict(RUNNING, ansible_job_id='j444.55'))
    write_claim(async_dir, 'build', 'tokA', jid_prefix='j444')
    before = snapshot(async_dir)
    found = claims.prepare(async_dir, 'build', 'tokB', False, check_mode=True, liveness=alive,
                       proc=noproc)
    assert found['action'] == 'attach' and found['ansible_job_id'] == 'j444.55'
    assert snapshot(async_dir) == before


def test_several_step_claim_is_still_waited_for(job_dir, async_dir, tmp_path):
    """A fresh claim without a jid prefix (a start in several steps, whose writer does not
    hold the lock in between) is waited for, up to ``hold``."""
    noproc = make_proc(tmp_path / 'proc', {})
    write_claim(async_dir, 'build', 'tokA')
    c = FakeClock(now=time.time())
    found = starting.start(async_dir, 'build', 'tokB', False, job_dir.cmd, run=refuse_to_run,
                     liveness=never, proc=noproc, hold=1.0, clock=c.clock, sleep=c.sleep)
    assert found['action'] == 'claimed'
    assert c.sleeps == [0.2] * 5
    assert claim_of(async_dir, 'build')['token'] == 'tokA'


# --- await_job_of_prefix --------------------------------------------------------------------

def test_await_job_of_prefix_existing(async_dir, tmp_path):
    h_write(async_dir, 'j444.55', RUNNING)
    h_write(async_dir, 'j4444.1', RUNNING)   # another prefix that starts the same
    os.symlink('j444.55', os.path.join(async_dir, 'j444.56'))
    assert claims.await_job_of_prefix(async_dir, 'j444', proc=str(tmp_path)) == 'j444.55'


def test_await_job_of_prefix_gives_up_without_process(async_dir, tmp_path):
    noproc = make_proc(tmp_path / 'proc', {})
    c = FakeClock()
    assert claims.await_job_of_prefix(async_dir, 'j444', proc=noproc, clock=c.clock,
                                  sleep=c.sleep) is None
    assert c.sleeps == []


def test_await_job_of_prefix_times_out(async_dir, tmp_path):
    proc = make_proc(tmp_path / 'proc', {4242: wrapper_argv('j444')})
    c = FakeClock()
    assert claims.await_job_of_prefix(async_dir, 'j444', proc=proc, clock=c.clock, sleep=c.sleep,
                                  timeout=1.0) is None
    # polled every 0.05 s until the timeout, and no longer
    assert set(c.sleeps) == {0.05} and 1.0 <= sum(c.sleeps) < 1.05 + 1e-9


def test_await_job_of_prefix_missing_dir(tmp_path):
    noproc = make_proc(tmp_path / 'proc', {})
    assert claims.await_job_of_prefix(str(tmp_path / 'nope'), 'j444', proc=noproc) is None


# --- the lock's timeout ---------------------------------------------------------------------

def test_alias_lock_timeout(async_dir):
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import fcntl, os, sys, time\n'
         'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n'
         'fcntl.flock(fd, fcntl.LOCK_EX)\nprint("locked", flush=True)\ntime.sleep(60)\n',
         os.path.join(async_dir, '.jid_build.lock')], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b'locked\n'
        c = FakeClock()
        with pytest.raises(names.JobError) as exc:
            with changes.alias_lock(async_dir, 'build', timeout=2, clock=c.clock, sleep=c.sleep):
                pass
        assert exc.value.msg == ('another run has held the lock of the name %r (%s) for 2 s; try '
                                 'again later' % ('build', os.path.join(async_dir, '.jid_build.lock')))
        assert set(c.sleeps) == {0.05} and 2.0 <= sum(c.sleeps) < 2.05 + 1e-9
    finally:
        holder.kill()
        holder.wait()
    with changes.alias_lock(async_dir, 'build', timeout=2):
        pass


# --- remove_job_tmpdir, make_executable -------------------------------------------------------

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
        with pytest.raises(names.JobError) as exc:
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
    with pytest.raises(names.JobError) as exc:
        starting.make_executable(job_dir.tmpdir, [str(outside)])
    assert exc.value.msg == ('refusing to change the mode of %s: it is not in the remote tmp dir %s'
                             % (outside, job_dir.tmpdir))
    assert stat.S_IMODE(os.stat(str(outside)).st_mode) == 0o600


# --- start_named_job --------------------------------------------------------------------------

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
    assert name_of(async_dir, 'build') is None


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


def test_start_named_job_failed_job_is_not_released_without_cleanup(tmp_path, async_dir):
    job = JobDir(tmp_path, async_dir, rc=2)
    result = starting.start_named_job(async_dir, 'build', 'tokA', True, job.cmd, wait=15.0,
                                cleanup=False)
    assert result['status']['state'] == 'failed' and result['status']['released'] == []
    assert name_of(async_dir, 'build') == result['ansible_job_id']


# --- concurrency: one job for many starters ----------------------------------------------------

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
    procs = [ctx.Process(target=_starter, args=(async_dir, str(tmp_path), 'tok%d' % i, barrier,
                                                results)) for i in range(n)]
    for p in procs:
        p.start()
    try:
        got = [results.get(timeout=60) for _i in range(n)]
    finally:
        for p in procs:
            p.join(30)
    actions = sorted(a for _t, a, _j in got)
    assert actions == ['attach'] * (n - 1) + ['start'], got
    jids = set(j for _t, _a, j in got)
    assert len(jids) == 1
    jid = jids.pop()
    assert name_of(async_dir, 'build') == jid
    assert sorted(n for n in os.listdir(async_dir) if names.JID_RE.match(n)) == [jid]
    killing.kill(async_dir, jid, 'KILL', grace=0)


# --- start_main: the start runner's entry point -----------------------------------------------

def test_start_main_starts_the_job(job_dir, async_dir):
    env = dict(os.environ, **{specs.WRAPPER_ENV: job_dir.cmd})
    result = starting.start_main(dict(alias='build', token='tokA', waiting=True, wait=15.0,
                                _async_dir=async_dir, tmpdir=job_dir.tmpdir, remove_tmp=True,
                                chmod=[job_dir.module]), environ=env)
    assert result['action'] == 'start' and result['changed'] is True
    assert result['status']['state'] == 'succeeded' and result['status']['stdout'] == 'done'


def test_start_main_expands_the_async_dir(job_dir, tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    env = dict(os.environ, **{specs.WRAPPER_ENV: job_dir.cmd.replace(
        'ANSIBLE_ASYNC_DIR=%s' % shlex.quote(job_dir.async_dir), "ANSIBLE_ASYNC_DIR='~/jobs'")})
    result = starting.start_main(dict(alias='build', token='tokA', waiting=True, wait=15.0,
                                _async_dir='~/jobs'), environ=env)
    jid = result['ansible_job_id']
    # the runner and async_wrapper agree on the dir: ~ of the same user
    assert result['status']['results_file'] == str(tmp_path / 'jobs' / jid)
    assert (tmp_path / 'jobs' / jid).is_file()


@pytest.mark.parametrize('args,env,msg', [
    (dict(alias='build', token='t', waiting=False, _async_dir='/x'), {},
     'the start runner needs the async_wrapper command line in %s' % specs.WRAPPER_ENV),
    (dict(alias='../x', token='t', waiting=False, _async_dir='/x'), {specs.WRAPPER_ENV: 'true'},
     'invalid alias \'../x\': use only letters, digits, "_", "-" and ".", not starting with '
     '".", at most 128 characters'),
    (dict(alias='build', token='t', waiting=False, _async_dir=''), {specs.WRAPPER_ENV: 'true'},
     '_async_dir is not set: the action plugin passes it; when running the module alone, '
     'give it with the other arguments'),
])
def test_start_main_bad_input(tmp_path, args, env, msg):
    result = starting.start_main(args, environ=env)
    assert result['failed'] is True and result['msg'] == msg
    assert not os.path.exists('/x')
