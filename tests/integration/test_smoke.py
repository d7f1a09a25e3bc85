# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smoke tests of the harness itself: native async + async_status, locally and over SSH
with become to an unprivileged user. No collection code is involved, so a failure here is
a set-up problem (interpreter, users, sudo, acl), not a collection bug."""

import json
import os
import shutil
import subprocess

import pytest

from _async_task_lib import MITOGEN


def _version(python):
    out = subprocess.check_output([python, '-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'])
    return out.decode().strip()


def _check_job(status, job, expect_user):
    assert status['finished'], status          # True on 2.19, 1 on 2.16
    assert status['rc'] == 0, status
    assert status['stdout'].splitlines() == ['started', expect_user, 'done'], status
    assert status['ansible_job_id'] == job['ansible_job_id']


@pytest.mark.matrix
def test_collection_is_the_built_artifact(installed_collection):
    # The tests must never run against the source tree.
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert not str(installed_collection).startswith(os.path.join(repo, 'plugins'))
    assert (installed_collection / 'MANIFEST.json').is_file()
    assert (installed_collection / 'plugins' / 'modules' / 'async_status_id.py').is_file()


def test_native_async_local(run_playbook, async_dir, target_python):
    r = run_playbook('smoke_native_async.yml', inventory='local')
    job, status, facts = r.load('job'), r.load('status'), r.load('facts')
    _check_job(status, job, 'root')
    assert facts['python_version'] == _version(target_python)

    # the job landed in this test's own async dir
    job_file = os.path.join(async_dir, job['ansible_job_id'])
    # Mitogen's runner returns no results_file in an async task's result
    assert job.get('results_file', job_file) == job_file
    assert MITOGEN or 'results_file' in job
    with open(job_file) as f:
        assert json.load(f)['rc'] == 0


def test_native_async_ssh_become_own_async_dir(run_playbook, async_dir, ssh_target, target_python):
    r = run_playbook('smoke_native_async.yml', inventory='ssh',
                     extra_vars={'smoke_become': True, 'smoke_become_user': ssh_target.job_user})
    job, status, facts = r.load('job'), r.load('status'), r.load('facts')
    _check_job(status, job, ssh_target.job_user)
    assert facts['user_id'] == ssh_target.job_user
    assert facts['python_version'] == _version(target_python)

    job_file = os.path.join(async_dir, job['ansible_job_id'])
    assert job['results_file'] == job_file
    assert os.stat(async_dir).st_uid == ssh_target.uid(ssh_target.job_user)
    assert os.stat(job_file).st_uid == ssh_target.uid(ssh_target.job_user)


def test_native_async_ssh_become_default_async_dir(run_playbook, ssh_target):
    # ansible_async_dir=None: not passed, the become user's ~/.ansible_async is used
    r = run_playbook('smoke_native_async.yml', inventory='ssh',
                     extra_vars={'smoke_become': True, 'smoke_become_user': ssh_target.job_user,
                                 'ansible_async_dir': None})
    job, status = r.load('job'), r.load('status')
    _check_job(status, job, ssh_target.job_user)

    job_dir = ssh_target.default_async_dir(ssh_target.job_user)
    job_file = os.path.join(job_dir, job['ansible_job_id'])
    try:
        assert job['results_file'] == job_file
        assert os.stat(job_file).st_uid == ssh_target.uid(ssh_target.job_user)
        with open(job_file) as f:
            assert json.load(f)['rc'] == 0
    finally:
        if os.path.exists(job_file):
            os.remove(job_file)


def test_native_async_ssh_no_become(run_playbook, async_dir, ssh_target):
    r = run_playbook('smoke_native_async.yml', inventory='ssh')
    job, status = r.load('job'), r.load('status')
    _check_job(status, job, ssh_target.login_user)
    assert os.stat(os.path.join(async_dir, job['ansible_job_id'])).st_uid == ssh_target.uid(ssh_target.login_user)


def test_failed_playbook_is_reported(run_playbook, tmp_path):
    pb = tmp_path / 'fail.yml'
    pb.write_text('- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.fail: {msg: boom}\n')
    r = run_playbook(str(pb), check=False)
    assert r.rc == 2
    assert 'boom' in r.stdout


@pytest.mark.matrix
def test_ansible_playbook_is_the_venvs(ansible_playbook):
    import sys
    assert os.path.dirname(ansible_playbook) == os.path.dirname(sys.executable)
    assert shutil.which('ansible-playbook', path=os.path.dirname(sys.executable)) == ansible_playbook
