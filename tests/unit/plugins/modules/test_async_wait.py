# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/modules/async_wait.py: run(params, check_mode), the module
without AnsibleModule (run_module is tested in _host/test_module.py).

One slice of a wait, by jid, by name and for several jobs (``jobs``): the status, the
names released (or not: cleanup, check mode, a job still running), and the failures, on
real job files in a real async dir, with the real clock and liveness check.
"""

import os
import threading
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    module as module_main, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors, names, specs
from ansible_collections.asyncjobs.named.plugins.modules import async_wait

from unit_helpers import make_link, module_params, name_of, needs_proc, write_job

JID = 'j123456789012.4242'
OTHER = 'j999999999999.77'
RUNNING = {'started': 1, 'finished': 0}
SUCCEEDED = {'started': 1, 'finished': 1, 'rc': 0, 'stdout': 'done'}
FAILED = {'started': 1, 'finished': 1, 'rc': 2, 'failed': True, 'msg': 'non-zero return code'}


def params(async_dir, **given):
    return module_params(specs.WAIT_SPEC, _async_dir=async_dir, **given)


# --- one job ---------------------------------------------------------------------------------

def deliver(result):
    """What run_module does once the result has left the host: free the names."""
    module_main._release_if_delivered(result.pop('_release', None) or [])


@pytest.mark.parametrize('cleanup', [True, False])
def test_finished_job_by_name(async_dir, cleanup):
    write_job(async_dir, JID, SUCCEEDED)
    jl = make_link(async_dir, 'jid_build', JID)
    status = async_wait.run(params(async_dir, alias='build', _slice=10.0, cleanup=cleanup), False)
    assert (status['state'], status['stdout'], status['ansible_job_alias']) == (
        'succeeded', 'done', 'build')
    assert status['waited'] == 0
    assert status['released'] == ([jl] if cleanup else [])
    # the name goes only once the result has left the host (run_module does it then)
    assert name_of(async_dir, 'build') == JID
    assert status.get('_release') == ([(async_dir, JID, 'build')] if cleanup else None)
    deliver(status)
    assert name_of(async_dir, 'build') == (None if cleanup else JID)
    assert os.path.exists(os.path.join(async_dir, JID))  # the result stays


def test_failed_job_is_a_status_not_an_error(async_dir):
    write_job(async_dir, JID, FAILED)
    status = async_wait.run(params(async_dir, jid=JID), False)
    assert (status['state'], status['failed'], status['msg']) == (
        'failed', True, 'non-zero return code')
    assert 'ansible_job_alias' not in status


def test_check_mode_neither_waits_nor_releases(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, 'jid_build', JID)
    status = async_wait.run(params(async_dir, alias='build', _slice=60.0), True)
    assert (status['state'], status['released']) == ('succeeded', [])
    assert name_of(async_dir, 'build') == JID


@needs_proc
def test_waits_for_the_job_to_finish(async_dir, fake_wrapper):
    """A real wait on a running job (its async_wrapper alive): the job file is written
    finished 0.3 s in, and the wait ends then."""
    path = write_job(async_dir, fake_wrapper.jid, RUNNING)
    timer = threading.Timer(0.3, changes.atomic_write_json, (path, SUCCEEDED))
    timer.start()
    try:
        t0 = time.time()
        status = async_wait.run(params(async_dir, jid=fake_wrapper.jid, _slice=10.0), False)
        elapsed = time.time() - t0
    finally:
        timer.cancel()
        timer.join()
    assert (status['state'], status['stdout']) == ('succeeded', 'done')
    assert 0.25 <= status['waited'] <= elapsed + 0.01
    assert elapsed < 5


@needs_proc
def test_running_job_is_not_released(async_dir, fake_wrapper):
    write_job(async_dir, fake_wrapper.jid, RUNNING)
    make_link(async_dir, 'jid_build', fake_wrapper.jid)
    status = async_wait.run(params(async_dir, alias='build', _slice=0.3), False)
    assert (status['state'], status['released']) == ('running', [])
    assert 0.3 <= status['waited'] < 5
    assert name_of(async_dir, 'build') == fake_wrapper.jid


# --- several jobs ------------------------------------------------------------------------------

@pytest.mark.parametrize('check_mode', [False, True])
def test_jobs(async_dir, check_mode):
    write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, OTHER, FAILED)
    make_link(async_dir, 'jid_a', JID)
    make_link(async_dir, 'jid_b', OTHER)
    result = async_wait.run(params(async_dir, jobs=['a', 'b'], _slice=10.0), check_mode)
    assert result['changed'] is False
    assert [(s['ansible_job_id'], s['state'], s['ansible_job_alias']) for s in result['results']] == [
        (JID, 'succeeded', 'a'), (OTHER, 'failed', 'b')]
    if check_mode:
        assert [s['released'] for s in result['results']] == [[], []]
        assert sorted(os.listdir(async_dir)) == sorted([JID, OTHER, 'jid_a', 'jid_b'])
    else:
        assert [s['released'] for s in result['results']] == [
            [os.path.join(async_dir, 'jid_a')], [os.path.join(async_dir, 'jid_b')]]
        deliver(result)
        assert sorted(n for n in os.listdir(async_dir) if not n.endswith('.lock')) == sorted(
            [JID, OTHER])


def checked_run(module, params, check_mode):
    """What run_module does on the host before the module's run: the one check of the job
    name and id (_host.module.checked_names), then run."""
    names.validate(**module_main.checked_names(specs.WAIT_SPEC, params))
    return module.run(params, check_mode)


# --- failures --------------------------------------------------------------------------------

@pytest.mark.parametrize('given, msg', [
    (dict(alias='build'), "no job named 'build' in {d}"),
    (dict(jid=JID), 'could not find job'),
    (dict(alias='a b'), 'invalid alias \'a b\': use only letters, digits, "_", "-" and ".", not '
                        'starting with ".", at most 128 characters'),
    (dict(jobs=['build']), "jobs[0] (build): no job named 'build' in {d}"),
    (dict(jobs=[]), 'jobs is empty: give at least one job'),
])
def test_failures(async_dir, given, msg):
    with pytest.raises(errors.JobError) as exc:
        checked_run(async_wait, params(async_dir, **given), False)
    assert exc.value.msg == msg.format(d=async_dir)
