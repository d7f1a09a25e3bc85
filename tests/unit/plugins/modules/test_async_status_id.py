# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/modules/async_status_id.py: run(params, check_mode), the module
without AnsibleModule (run_module is tested in _host/test_module.py).

Status and clean-up by jid, by name and of several jobs (``jobs``), and the failures, on
real job files in a real async dir, with the real liveness check (/proc or ps).
"""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors, names, specs
from ansible_collections.asyncjobs.named.plugins.module_utils._host import module as module_main
from ansible_collections.asyncjobs.named.plugins.modules import async_status_id

from unit_helpers import make_link, module_params, needs_proc, write_job

JID = 'j123456789012.4242'
OTHER = 'j999999999999.77'
SUCCEEDED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'rc': 0, 'stdout': 'done'}


def params(async_dir, **given):
    return module_params(specs.STATUS_SPEC, _async_dir=async_dir, **given)


# --- success ---------------------------------------------------------------------------------

def test_status_by_jid(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    result = async_status_id.run(params(async_dir, jid=JID), False)
    assert (result['state'], result['ansible_job_id'], result['stdout']) == (
        'succeeded', JID, 'done')
    assert result['results_file'] == os.path.join(async_dir, JID)
    assert result['finished'] is True


def test_status_by_absent_name_is_not_an_error(async_dir):
    result = async_status_id.run(params(async_dir, alias='build'), False)
    assert (result['state'], result['ansible_job_alias'], result['ansible_job_id']) == (
        'absent', 'build', None)


@needs_proc
def test_status_by_name_of_a_running_job(async_dir, fake_wrapper):
    write_job(async_dir, fake_wrapper.jid, {'started': 1, 'finished': 0})
    make_link(async_dir, 'jid_build', fake_wrapper.jid)
    result = async_status_id.run(params(async_dir, alias='build'), False)
    assert (result['state'], result['ansible_job_id']) == ('running', fake_wrapper.jid)


def test_status_of_an_orphan(async_dir):
    """A running job file whose async_wrapper is gone (never was)."""
    write_job(async_dir, JID, {'started': 1, 'finished': 0})
    result = async_status_id.run(params(async_dir, jid=JID), False)
    assert (result['state'], result['failed'], result['pid_missing']) == ('orphaned', True, True)


def test_async_dir_expanded_on_the_host(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    (tmp_path / 'jobs').mkdir()
    write_job(str(tmp_path / 'jobs'), JID, SUCCEEDED)
    result = async_status_id.run(params('~/jobs', jid=JID), False)
    assert result['results_file'] == str(tmp_path / 'jobs' / JID)


@pytest.mark.parametrize('check_mode', [False, True])
def test_cleanup_by_jid(async_dir, check_mode):
    path = write_job(async_dir, JID, SUCCEEDED)
    result = async_status_id.run(params(async_dir, jid=JID, mode='cleanup'), check_mode)
    assert (result['changed'], result['erased']) == (True, path)
    assert os.path.exists(path) is check_mode


def test_full_cleanup_by_name(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, 'jid_build', JID)
    result = async_status_id.run(params(async_dir, alias='build', mode='full_cleanup'), False)
    assert result['changed'] is True
    assert sorted(result['erased']) == [os.path.join(async_dir, JID),
                                        os.path.join(async_dir, 'jid_build')]
    assert os.listdir(async_dir) == []


def test_jobs_status(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, 'jid_build', JID)
    result = async_status_id.run(params(async_dir, jobs=['build', 'gone']), False)
    assert result['changed'] is False
    assert [(r['state'], r.get('ansible_job_alias')) for r in result['results']] == [
        ('succeeded', 'build'), ('absent', 'gone')]


@pytest.mark.parametrize('check_mode', [False, True])
def test_jobs_full_cleanup(async_dir, check_mode):
    write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, OTHER, dict(SUCCEEDED, ansible_job_id=OTHER))
    result = async_status_id.run(params(async_dir, jobs=[JID, OTHER], mode='full_cleanup'),
                                 check_mode)
    assert result['changed'] is True
    assert [r['erased'] for r in result['results']] == [[os.path.join(async_dir, JID)],
                                                        [os.path.join(async_dir, OTHER)]]
    assert sorted(os.listdir(async_dir)) == (sorted([JID, OTHER]) if check_mode else [])


def checked_run(module, params, check_mode):
    """What run_module does on the host before the module's run: the one check of the job
    name and id (_host.module.checked_names), then run."""
    names.validate(**module_main.checked_names(specs.STATUS_SPEC, params))
    return module.run(params, check_mode)


# --- failures --------------------------------------------------------------------------------

@pytest.mark.parametrize('given, msg', [
    (dict(jid=JID), 'could not find job'),
    (dict(alias='../x'), 'invalid alias \'../x\': use only letters, digits, "_", "-" and ".", '
                         'not starting with ".", at most 128 characters'),
    (dict(jid='nope'), 'invalid jid \'nope\': a job id looks like "j123456789012.4242" '
                       '(async_wrapper: optional "j", digits, ".", digits) or "66c6c6863f27278e" (Mitogen for Ansible: 16 hex digits)'),
    (dict(jobs=[JID, 'build']), 'jobs[1] is a name, but jobs[0] is a job id: give the jobs in one '
                                'form'),
    (dict(jobs=[JID]), 'jobs[0] (%s): could not find job' % JID),
    (dict(jid=JID, mode='full_cleanup'), 'could not find job'),
])
def test_failures(async_dir, given, msg):
    with pytest.raises(errors.JobError) as exc:
        checked_run(async_status_id, params(async_dir, **given), False)
    assert exc.value.msg == msg


@needs_proc
def test_running_name_cleanup_refused(async_dir, fake_wrapper):
    write_job(async_dir, fake_wrapper.jid, {'started': 1, 'finished': 0})
    make_link(async_dir, 'jid_build', fake_wrapper.jid)
    with pytest.raises(errors.JobError) as exc:
        async_status_id.run(params(async_dir, alias='build', mode='cleanup'), False)
    assert exc.value.msg.startswith('job %s (alias \'build\') is still running' % fake_wrapper.jid)
    assert os.path.islink(os.path.join(async_dir, 'jid_build'))


def test_without_async_dir_the_runner_rule(async_dir, monkeypatch):
    # under Mitogen the action passes none: the dir is where the runner writes
    write_job(async_dir, JID, {'rc': 0})
    monkeypatch.setenv('ANSIBLE_ASYNC_DIR', async_dir)
    assert async_status_id.run(params(None, jid=JID), False)['state'] == 'succeeded'
    monkeypatch.delenv('ANSIBLE_ASYNC_DIR')
    monkeypatch.setenv('HOME', os.path.dirname(async_dir))
    with pytest.raises(errors.JobError) as exc:
        async_status_id.run(params(None, jid=JID), False)
    assert exc.value.result['results_file'] == os.path.join(
        os.path.dirname(async_dir), '.ansible_async', JID)


# --- what a status poll loads ------------------------------------------------------------------

# Each module_utils file is compiled afresh on every poll (AnsiballZ imports them from a zip,
# without .pyc): a status of an async_wrapper job loads these and nothing more. Mitogen's
# runner liveness, output tails, the jobs option and clean-up are loaded when used.
STATUS_MODULE_UTILS = ['_host', '_host.async_dir', '_host.job_status', '_host.module',
                       '_host.processes', '_shared', '_shared.errors', '_shared.job_model',
                       '_shared.names', '_shared.specs']


@needs_proc
def test_a_status_poll_loads_only_what_it_needs(async_dir, fake_wrapper):
    jid = fake_wrapper.prefix + '.1'
    code = '\n'.join([
        'import json, sys',
        'from ansible_collections.asyncjobs.named.plugins.modules import async_status_id',
        'result = async_status_id.run(json.loads(sys.argv[1]), False)',
        'assert result["state"] == "running", result',
        'prefix = "ansible_collections.asyncjobs.named.plugins.module_utils."',
        'print(" ".join(sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix))))',
    ])
    write_job(async_dir, jid, {'started': 1, 'finished': 0, 'ansible_job_id': jid})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, '-c', code, json.dumps(params(async_dir, jid=jid))],
                         capture_output=True, text=True, env=env, check=True).stdout.split()
    assert out == STATUS_MODULE_UTILS
