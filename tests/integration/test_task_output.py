# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The output of a running command job (issue 9, output while it runs), with real
ansible-playbook runs locally and over SSH with become to the unprivileged job user:
async_wait, async_task (attaching) and async_jobs_info return the last lines of each
stream while the job runs; no_log writes no log and returns no tail; once the outcome is
returned with cleanup, the log is gone and the result holds all of the output."""

import json
import os

import pytest

from _async_task_lib import NO_OUTPUT_UNDER_MITOGEN, wait_for

pytestmark = pytest.mark.wrapper_only(NO_OUTPUT_UNDER_MITOGEN)


def _meta(async_dir, jid):
    with open(os.path.join(async_dir, '.%s.meta' % jid)) as f:
        return json.load(f)


def _logs(async_dir):
    return sorted(n for n in os.listdir(async_dir) if n.startswith('.output-'))


@pytest.mark.parametrize('where', ['local', 'ssh'])
def test_output_while_it_runs(request, where, run_playbook, test_dirs, async_dir):
    gate = test_dirs.root / 'gate'
    gate.write_text('', encoding='utf-8')
    os.chmod(str(gate), 0o644)
    evars = {'gate': str(gate)}
    if where == 'ssh':
        request.getfixturevalue('ssh_target')
        evars['as_job_user'] = True
    try:
        r = run_playbook('task_output.yml', inventory=where, extra_vars=dict(evars, phase='start'))
        jid = r.load('started')['ansible_job_id']
        secret_jid = r.load('secret')['ansible_job_id']
        meta = _meta(async_dir, jid)
        assert meta['what'].startswith('shell: for i in 1 2 3')
        log = os.path.join(async_dir, meta['output'])
        assert os.path.basename(log).startswith('.output-') and log.endswith('.log')
        # no_log: no log at all
        assert _meta(async_dir, secret_jid)['output'] is None
        assert _logs(async_dir) == [meta['output']]
        wait_for(lambda: os.path.exists(log) and 'err: problem' in open(log).read(), 60,
                 'the output in the log')
        if where == 'ssh':
            assert os.stat(log).st_uid == os.stat(async_dir).st_uid  # the job user's

        r = run_playbook('task_output.yml', inventory=where, extra_vars=dict(evars, phase='look'))
        one = r.load('one_slice')
        assert one['state'] == 'running' and one['msg'] == 'Ran out of attempts.'
        assert (one['stdout_tail'], one['stderr_tail']) == (['line 2', 'line 3'], ['problem'])
        attached = r.load('attached')
        assert attached['attached'] is True and attached['ansible_job_id'] == jid
        assert (attached['stdout_tail'], attached['stderr_tail']) == (['line 3'], ['problem'])
        listed = dict((j['ansible_job_id'], j) for j in r.load('listed')['jobs'])
        assert listed[jid]['stdout_tail'] == ['line 1', 'line 2', 'line 3']
        assert listed[jid]['stderr_tail'] == ['problem']
        assert 'stdout_tail' not in listed[secret_jid]  # no log
        hidden = r.load('hidden')
        assert [h['state'] for h in hidden['results']] == ['running', 'running']
        assert not any('stdout_tail' in h or 'stderr_tail' in h for h in hidden['results'])
        assert 'secret-output' not in r.stdout and 'line 3' not in r.stdout.split(
            'Wait one short slice, no_log')[1]
    finally:
        gate.unlink()
    r = run_playbook('task_output.yml', inventory=where, extra_vars=dict(evars, phase='finish'))
    out, secret = r.load('finished')['results']
    assert out['state'] == 'succeeded' and out['stdout'] == 'line 1\nline 2\nline 3\ndone'
    assert out['stderr'] == 'problem' and 'stdout_tail' not in out
    assert secret['stdout'] == 'secret-output'
    # the outcome was returned with cleanup: the names and the log are gone, the metas stay
    assert _logs(async_dir) == []
    assert os.path.exists(os.path.join(async_dir, '.%s.meta' % jid))


def test_output_limit(run_playbook, async_dir):
    r = run_playbook('task_output_limit.yml')
    big = r.load('big')
    # the job's result is not cut
    assert big['state'] == 'succeeded' and big['stdout_lines'] == [str(i) for i in range(1, 5001)]
    log = os.path.join(async_dir, _meta(async_dir, big['ansible_job_id'])['output'])
    with open(log, encoding='utf-8') as f:
        records = f.read().splitlines()
    assert os.path.getsize(log) <= 4096
    assert records[0] == 'out: 1' and records[-1] == 'out: 5000'
    assert [r for r in records if r.startswith('cut: ')], records
    # bad limits: a clear error, and nothing started
    msgs = [res['msg'] for res in r.load('bad')['results']]
    assert msgs == [
        "output_limit must be a size, bytes or a number with a unit (100MB, 1.5G, 512k), "
        "not '7x'",
        "output_limit must be at least 4096 bytes (4k), not '100'",
        "output_limit must be a size, bytes or a number with a unit (100MB, 1.5G, 512k), "
        "not ''"]
    assert r.load('bad_module')['msg'] == ('output_limit applies only to shell, cmd, argv and '
                                           'script; give a module its options in module_args')
    assert not [n for n in os.listdir(async_dir) if 'bad' in n]
