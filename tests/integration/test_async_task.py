# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""asyncjobs.named.async_task with real ansible-playbook runs.

Each interface form and command option; attach to a running job; exactly one job for
several controllers at once and for a controller killed mid-wait and run again; jobs
that finished while nobody waited; failures (job, time limit, wait budget); check mode
of async_task, async_wait and async_kill; every bad input; SSH with become.

Side effects are counted with a counter file the job appends a line to.
"""

import json
import os
import re
import shutil
import signal
import time
import uuid

import pytest

from _core import NON_ZERO_RC_MSG, no_job_id
from _async_task_lib import (ALIAS_HELP, KILL_MSG, MITOGEN, RETRYING, alias_target,
                             always_keys, assert_always, background_starter, flag,
                             is_mitogen_jid, job_file, lines, processes, sleep_processes, timeout_msg,
                             wait_for, wrapper_processes)

# The prefix of the remote tmp dir a script job runs from: Ansible's, or Mitogen's.
TMP_PREFIXES = ('ansible-tmp-', 'ansible_mitogen_action_')


@pytest.fixture
def start_playbook(request, ansible_playbook, installed_collection, session_dir, test_dirs):
    """ansible-playbook in the background: see _async_task_lib.background_starter."""
    return background_starter(request, ansible_playbook, installed_collection, session_dir,
                              test_dirs)


ACTION_PLUGIN_MSG = ("module %r has a controller-side action plugin, which async_task cannot "
                     "run as a job; use shell, cmd, argv or script, or a module without an "
                     "action plugin")


@pytest.fixture(scope='module')
def task_keys(installed_collection):
    return always_keys(installed_collection, 'async_task')


def _check_finished(res, async_dir, alias, version, keys, attached=False):
    """A job result returned by async_task after a successful wait with cleanup."""
    assert_always(res, keys, alias)
    jid = res['ansible_job_id']
    assert res['ansible_job_alias'] == alias
    assert res['attached'] is attached
    assert res['started'] == flag(version, True) and res['finished'] == flag(version, True)
    assert res['state'] == 'succeeded', res
    assert res['results_file'] == os.path.join(async_dir, jid)
    assert res['rc'] == 0 and not res['failed']
    # cleanup (the default): the name is freed, the job file stays
    assert alias_target(async_dir, alias) is None
    assert job_file(async_dir, jid)['rc'] == 0
    return jid


def test_forms_and_options(run_playbook, async_dir, test_dirs, ansible_version, task_keys):
    marker = test_dirs.root / 'marker'
    marker.write_text('', encoding='utf-8')
    counter = test_dirs.root / 'counter'
    r = run_playbook('task_forms.yml', extra_vars={'marker': str(marker), 'counter': str(counter)})
    res = r.dumps()
    aliases = {'shell': 'form-shell', 'cmd': 'form-cmd', 'argv': 'form-argv',
               'script': 'form-script', 'module': 'form-module', 'creates': 'opt-creates',
               'removes': 'opt-removes', 'stdin': 'opt-stdin'}
    assert sorted(res) == sorted(aliases)
    jids = set(_check_finished(res[k], async_dir, a, ansible_version, task_keys)
               for k, a in aliases.items())
    assert len(jids) == len(aliases)

    # shell: run by the given executable, with the task's environment
    assert re.match(r'^foo=bar bash=\d+$', res['shell']['stdout']), res['shell']
    assert res['shell']['stderr'] == 'to-stderr'
    # cmd and argv: no shell (no ';', no glob), quoting kept
    assert res['cmd']['stdout'] == 'a  b ; echo *'
    assert res['argv']['stdout'] == "a  b|;|*|c'd|"
    assert res['module']['stdout'] == 'from-module'
    assert res['module']['cmd'] == ['echo', 'from-module']
    # creates / removes: the command was not run
    assert res['creates']['stdout'] == 'skipped, since %s exists' % marker
    assert res['removes']['stdout'] == 'skipped, since %s.missing does not exist' % counter
    assert res['creates']['changed'] is False and res['removes']['changed'] is False
    assert not counter.exists()
    # stdin without the added newline, empty ends of the output kept
    assert res['stdin']['stdout'] == 'x\n\n'

    # script: ran from the remote tmp dir, with its arguments, in chdir; dir gone after
    out = res['script']['stdout'].splitlines()
    assert out[1:] == ['pwd=/', 'arg=first arg', 'arg=second'], out
    assert out[0].startswith('dir=')
    tmp = out[0][len('dir='):]
    assert os.path.basename(tmp).startswith(TMP_PREFIXES), tmp
    assert res['script']['cmd'] == [os.path.join(tmp, 'task_script.sh'), 'first arg', 'second']
    if MITOGEN:
        # Mitogen's async runner does not remove the task's tmp dir when the job ends
        # (the same for ansible.builtin.script with async): the script's copy stays.
        shutil.rmtree(tmp)
    else:
        # async_wrapper's watcher removes it when the job ends
        wait_for(lambda: not os.path.exists(tmp), 10,
                 'the remote tmp dir %s to be removed' % tmp)
    assert RETRYING not in r.stdout


def test_bad_input(run_playbook, async_dir):
    r = run_playbook('task_bad_input.yml')
    bad = r.load('bad')
    expected = {
        'missing_alias': 'missing required arguments: alias',
        'bad_alias': "invalid alias '../etc': use only %s" % ALIAS_HELP,
        'dot_alias': "invalid alias '.hidden': use only %s" % ALIAS_HELP,
        'two_forms': 'parameters are mutually exclusive: shell|cmd|argv|script|module',
        'no_form': 'one of the following is required: shell, cmd, argv, script, module',
        'async_missing': 'missing required arguments: async',
        'async_zero': "async must be a positive number of seconds (the job's time limit), not 0",
        'async_negative': "async must be a positive number of seconds (the job's time limit), "
                          "not -5",
        'module_args_alone': "missing parameter(s) required by 'module_args': module",
        'chdir_with_module': 'chdir applies only to shell, cmd, argv and script; give a module '
                             'its options in module_args',
        'timeout_and_retries': 'parameters are mutually exclusive: timeout|retries',
        'negative_timeout': 'timeout must be 0 or more, not -1.0',
    }
    for name, msg in expected.items():
        assert bad[name]['failed'] is True, bad[name]
        assert bad[name]['msg'] == msg, name
    assert bad['unknown_option']['failed'] is True
    assert 'bogus. Supported parameters include: alias, argv, async, chdir' in bad['unknown_option']['msg']

    refused = r.load('refused')
    assert [x['msg'] for x in refused] == [ACTION_PLUGIN_MSG % m for m in (
        'ansible.builtin.copy', 'ansible.builtin.template', 'copy', 'ansible.builtin.copy')]
    assert all(x['failed'] is True for x in refused)
    unknown = r.load('unknown_module')
    assert unknown['failed'] is True
    assert unknown['msg'] == "module 'nosuch.collection.nomodule' was not found"
    missing = r.load('missing_script')
    assert missing['failed'] is True
    assert missing['msg'].startswith("Could not find or access 'no-such-script.sh'")

    # Nothing was started, and no claim was left behind: the name was free at once.
    assert r.load('claim')['stat']['exists'] is False
    after = r.load('after')
    assert after['stdout'] == 'fine' and after['attached'] is False
    jobs = [n for n in os.listdir(async_dir) if not n.startswith('.')]
    assert jobs == [after['ansible_job_id']]
    assert not [n for n in os.listdir(async_dir) if n.endswith('.claim')]
    assert not os.path.exists('/tmp/never-written')


@pytest.mark.matrix
def test_attach_to_running_job(run_playbook, async_dir, test_dirs, ansible_version, task_keys):
    counter = test_dirs.root / 'counter'
    r = run_playbook('task_attach.yml', extra_vars={'counter': str(counter)})
    first, second = r.load('first'), r.load('second')
    assert_always(first, task_keys, 'first')
    assert first['attached'] is False and first['changed'] is True
    assert first['state'] == 'running'
    assert first['finished'] == flag(ansible_version, False)
    assert first['stdout'] == '' and first['stderr'] == ''
    again = r.load('again')
    assert_always(again, task_keys, 'again')
    assert again['attached'] is True and again['changed'] is False
    assert again['state'] == 'running' and again['ansible_job_id'] == first['ansible_job_id']
    jid = _check_finished(second, async_dir, 'attach-me', ansible_version, task_keys, attached=True)
    assert jid == first['ansible_job_id']
    assert second['stdout'] == 'done'
    assert lines(counter) == ['run']


@pytest.mark.matrix
def test_controller_killed_mid_wait_rerun_attaches(start_playbook, run_playbook, async_dir,
                                                   test_dirs, ansible_version, task_keys):
    counter = test_dirs.root / 'counter'
    evars = {'counter': str(counter), 'tag': 'first', 'job_seconds': 8}
    run = start_playbook('task_once.yml', extra_vars=evars)
    wait_for(lambda: lines(counter), 60, 'the job to start', proc=run)
    jid = wait_for(lambda: alias_target(async_dir, 'once'), 10, 'the job to be named', proc=run)
    time.sleep(1)  # the controller is waiting now
    run.kill()
    run.proc.wait(10)
    first_run = run.cmd[run.cmd.index('-e') + 1]
    wait_for(lambda: not processes(lambda argv: first_run in argv), 10,
             'the first run\'s workers to be gone')
    assert wrapper_processes(jid), 'the job died with its controller'
    assert job_file(async_dir, jid).get('finished') in (0, False)

    r = run_playbook('task_once.yml', extra_vars=dict(evars, tag='rerun'))
    res = r.load('result-rerun')
    assert _check_finished(res, async_dir, 'once', ansible_version, task_keys, attached=True) == jid
    assert res['stdout'] == 'job-output'
    assert lines(counter) == ['run']
    assert not (test_dirs.out_dir / 'result-first.json').exists()


@pytest.mark.matrix
def test_finished_uncollected(run_playbook, async_dir, test_dirs, ansible_version, task_keys):
    counter = test_dirs.root / 'counter'
    remote_tmp = test_dirs.root / 'remote-tmp'
    r = run_playbook('task_uncollected.yml', extra_vars={'counter': str(counter)},
                     env={'ANSIBLE_REMOTE_TMP': str(remote_tmp)})
    first, restarted, collected, after = (r.load(n) for n in ('first', 'restarted', 'collected', 'after'))
    # no budget: the finished, uncollected job's name is freed and a new job started
    assert first['attached'] is False and restarted['attached'] is False
    assert restarted['ansible_job_id'] != first['ansible_job_id']
    assert restarted['changed'] is True
    # with a budget: its outcome is returned, nothing is started
    jid = _check_finished(collected, async_dir, 'idle', ansible_version, task_keys, attached=True)
    assert jid == restarted['ansible_job_id']
    assert collected['stdout'] == 'run 2'
    assert lines(counter) == ['run', 'run']
    assert after['state'] == 'absent'
    assert job_file(async_dir, first['ansible_job_id'])['stdout'] == 'run 1'
    # No remote tmp dir is left behind: the tasks' own are removed when each task ends,
    # the jobs' ones by their watchers (which look every few seconds, as native async's do).
    assert remote_tmp.is_dir()
    wait_for(lambda: not list(remote_tmp.iterdir()), 20,
             'every remote tmp dir under %s to be removed' % remote_tmp)


@pytest.mark.matrix
def test_failures(run_playbook, async_dir, ansible_version, task_keys):
    r = run_playbook('task_failures.yml')
    failing, timed_out, over, still = (r.load(n) for n in ('failing', 'timed_out', 'over_budget', 'still'))
    for res in (failing, timed_out, over):
        assert_always(res, task_keys)
        assert res['failed'] is True
        assert res['attached'] is False

    assert failing['rc'] == 3 and failing['msg'] == NON_ZERO_RC_MSG
    assert failing['stdout'] == 'out' and failing['stderr'] == 'err'
    assert failing['state'] == 'failed' and failing['finished'] == flag(ansible_version, True)
    assert alias_target(async_dir, 'exits-3') is None  # the outcome was returned

    assert timed_out['msg'] == timeout_msg(timed_out['ansible_job_id'], 2)
    assert timed_out['state'] == 'timed_out'
    assert alias_target(async_dir, 'too-long') is None
    # up to ~8 s past the 2 s limit on some ansible-core versions
    assert timed_out['waited'] < 15

    assert over['msg'] == 'Ran out of attempts.'
    assert over['state'] == 'running' and over['finished'] == flag(ansible_version, False)
    # waited counts from the start of the task (the start included, 8.4 s once on a loaded
    # machine): below 15 it returned well before the 20 s job ended
    assert 2 <= over['waited'] < 15
    assert still['state'] == 'running'
    assert still['ansible_job_id'] == over['ansible_job_id']
    assert RETRYING not in r.stdout


def test_check_mode(run_playbook, async_dir, test_dirs, ansible_version, task_keys,
                    installed_collection):
    counter = test_dirs.root / 'counter'
    r = run_playbook('task_check_mode.yml', extra_vars={'counter': str(counter)})
    d = r.dumps()
    ws, started, wa = d['would_start'], d['started'], d['would_attach']
    jid = started['ansible_job_id']
    for res in (ws, wa):
        assert_always(res, task_keys)
    assert ws['msg'] == "would start a new job named 'checked'"
    assert ws['attached'] is False and ws['changed'] is True and ws['state'] == 'absent'
    assert no_job_id(ws)
    assert wa['msg'] == "would attach to job %s named 'checked'" % jid
    assert wa['attached'] is True and wa['changed'] is False
    assert wa['ansible_job_id'] == jid and wa['state'] == 'running'
    # only the real start ran the job
    assert lines(counter) == ['run']

    wait_keys = always_keys(installed_collection, 'async_wait')
    wr = d['wait_running']
    assert_always(wr, wait_keys, 'wait_running')
    assert wr['state'] == 'running' and wr['ansible_job_id'] == jid
    assert wr['released'] == [] and not wr['failed']
    assert wr['waited'] < 10  # reported at once, not after the 30 s budget

    kill_keys = always_keys(installed_collection, 'async_kill')
    wk = d['would_kill']
    assert_always(wk, kill_keys, 'would_kill')
    assert wk['changed'] is True and wk['state'] == 'running' and wk['killed'] is False
    # the shell and its children, the runner, and async_wrapper's watcher (Mitogen: none)
    assert wk['signal'] == 'SIGTERM' and len(wk['pids']) >= (3 if is_mitogen_jid(jid) else 4)
    assert d['still_running']['state'] == 'running'
    assert d['killed']['pids'] == wk['pids']
    assert d['killed']['state'] == 'killed'

    wd = d['wait_done']
    assert wd['state'] == 'succeeded' and wd['stdout'] == 'done' and wd['released'] == []
    assert d['still_done']['state'] == 'succeeded'
    assert alias_target(async_dir, 'checked-done') == wd['ansible_job_id']


@pytest.mark.matrix
def test_ssh_become(run_playbook, test_dirs, ssh_target, ansible_version, task_keys):
    prefix = 'it-%s' % uuid.uuid4().hex[:10]
    counter = test_dirs.root / 'counter'
    nap = str(uuid.uuid4().int % 10 ** 6)
    evars = {'prefix': prefix, 'counter': str(counter), 'nap': nap, 'ansible_async_dir': None}
    job_dir = ssh_target.default_async_dir(ssh_target.job_user)
    uid = ssh_target.uid(ssh_target.job_user)
    try:
        r1 = run_playbook('task_ssh.yml', inventory='ssh', extra_vars=dict(evars, phase='start'))
        waited, started, long = r1.load('waited'), r1.load('started'), r1.load('long')
        _check_finished(waited, job_dir, prefix + '-wait', ansible_version, task_keys)
        assert waited['stdout'].splitlines() == [ssh_target.job_user,
                                                 'home=%s' % ssh_target.home(ssh_target.job_user)]
        assert os.stat(waited['results_file']).st_uid == uid
        script = r1.load('script')
        _check_finished(script, job_dir, prefix + '-script', ansible_version, task_keys)
        out = script['stdout'].splitlines()
        assert out[2:] == ['arg=over-ssh'], out
        tmp = out[0][len('dir='):]
        assert os.path.basename(tmp).startswith('ansible-tmp-'), out
        # Not checked here: with become to an unprivileged user the remote tmp dir is the
        # login user's (in /var/tmp), which the job's async_wrapper cannot remove; native
        # async leaves it behind the same way.
        shutil.rmtree(tmp, ignore_errors=True)
        for res in (started, long):
            assert res['state'] == 'running' and res['attached'] is False
            assert os.path.dirname(res['results_file']) == job_dir
            assert os.stat(res['results_file']).st_uid == uid

        r2 = run_playbook('task_ssh.yml', inventory='ssh', extra_vars=dict(evars, phase='attach'))
        attached, killed = r2.load('attached'), r2.load('killed')
        jid = _check_finished(attached, job_dir, prefix + '-attach', ansible_version, task_keys,
                              attached=True)
        assert jid == started['ansible_job_id']
        assert attached['stdout'].splitlines() == [ssh_target.job_user, 'attach-done']
        assert lines(counter) == ['run']

        long_jid = long['ansible_job_id']
        assert killed['changed'] is True and killed['state'] == 'killed'
        assert killed['ansible_job_id'] == long_jid
        assert killed['msg'] == KILL_MSG % (long_jid, 'SIGTERM')
        assert job_file(job_dir, long_jid)['killed'] is True
        assert not wrapper_processes(long_jid)
        assert not sleep_processes('300.' + nap, '301.' + nap)
    finally:
        for pid in sleep_processes('300.' + nap, '301.' + nap):
            os.kill(pid, signal.SIGKILL)
        for name in os.listdir(job_dir) if os.path.isdir(job_dir) else ():
            if prefix in name:
                os.unlink(os.path.join(job_dir, name))
        for res in ('waited', 'script', 'started', 'long'):
            path = test_dirs.out_dir / ('%s.json' % res)
            if path.exists():
                jf = os.path.join(job_dir, json.loads(path.read_text(encoding='utf-8'))['ansible_job_id'])
                if os.path.exists(jf):
                    os.unlink(jf)
