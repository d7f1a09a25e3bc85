# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/modules/async_kill.py: run(params, check_mode), the module
without AnsibleModule (run_module is tested in _host/test_module.py).

Stopping a running job (a real process with async_wrapper's command line), in check mode
too, the jobs left alone (absent, finished) and the failures, on real job files in a real
async dir. The kill itself is tested on real job trees in _host/test_kill.py.
"""

import json
import os
import signal

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors, names, specs
from ansible_collections.asyncjobs.named.plugins.module_utils._host import module as module_main
from ansible_collections.asyncjobs.named.plugins.modules import async_kill

from unit_helpers import make_link, module_params, needs_proc, snapshot, write_job

JID = 'j123456789012.4242'
RUNNING = {'started': 1, 'finished': 0}
SUCCEEDED = {'started': 1, 'finished': 1, 'rc': 0, 'stdout': 'done'}


def params(async_dir, **given):
    return module_params(specs.KILL_SPEC, _async_dir=async_dir, **given)


@needs_proc
@pytest.mark.parametrize('by', ['jid', 'alias'])
def test_kills_a_running_job(async_dir, fake_wrapper, by):
    """The fake wrapper is a watcher (not a group leader): it gets SIGKILL at once; the
    job file then says killed, a failed job, not a failed kill."""
    path = write_job(async_dir, fake_wrapper.jid, RUNNING)
    make_link(async_dir, 'jid_build', fake_wrapper.jid)
    given = dict(jid=fake_wrapper.jid) if by == 'jid' else dict(alias='build')
    result = async_kill.run(params(async_dir, signal='INT', grace=1.0, **given), False)
    assert fake_wrapper.proc.wait(10) == -signal.SIGKILL
    assert (result['changed'], result['state'], result['killed']) == (True, 'killed', True)
    assert (result['pids'], result['signal']) == ([fake_wrapper.pid], 'SIGINT')
    # the kill did not fail: failed is false (a job's own non-zero rc would fail the task)
    assert result['job_failed'] is True and result['failed'] is False
    assert result.get('ansible_job_alias') == (None if by == 'jid' else 'build')
    with open(path) as f:
        assert json.load(f)['msg'] == ('job %s was killed by asyncjobs.named.async_kill with '
                                       'SIGINT' % fake_wrapper.jid)


@needs_proc
def test_check_mode_signals_nothing(async_dir, fake_wrapper):
    write_job(async_dir, fake_wrapper.jid, RUNNING)
    before = snapshot(async_dir)
    result = async_kill.run(params(async_dir, jid=fake_wrapper.jid), True)
    assert (result['changed'], result['state'], result['pids']) == (
        True, 'running', [fake_wrapper.pid])
    assert result['job_failed'] is False
    assert fake_wrapper.proc.poll() is None
    assert snapshot(async_dir) == before


def test_absent_name_is_ok(async_dir):
    result = async_kill.run(params(async_dir, alias='build', signal='9'), False)
    assert result == dict(started=False, finished=False, killed=False, pid_missing=False,
                          state='absent', ansible_job_id=None, ansible_job_alias='build',
                          results_file=None, changed=False, pids=[], unstopped=[], signal='SIGKILL',
                          job_failed=False, failed=False)


def test_finished_job_is_left_alone(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    before = snapshot(async_dir)
    result = async_kill.run(params(async_dir, jid=JID), False)
    assert (result['changed'], result['state'], result['pids'], result['job_failed']) == (
        False, 'succeeded', [], False)
    assert snapshot(async_dir) == before


def test_finished_job_with_a_non_zero_rc_does_not_fail_the_kill(async_dir):
    write_job(async_dir, JID, dict(rc=3, failed=True, msg='non-zero return code'))
    result = async_kill.run(params(async_dir, jid=JID), False)
    assert (result['state'], result['rc'], result['job_failed'], result['failed']) == (
        'failed', 3, True, False)


def checked_run(module, params, check_mode):
    """What run_module does on the host before the module's run: the one check of the job
    name and id (_host.module.checked_names), then run."""
    names.validate(**module_main.checked_names(specs.KILL_SPEC, params))
    return module.run(params, check_mode)


@pytest.mark.parametrize('given, msg', [
    (dict(jid=JID, signal='NOPE'), "invalid signal 'NOPE': give a signal name such as TERM, "
                                   'INT, KILL or a number'),
    (dict(jid='j123456789012.1'), 'could not find job'),
    (dict(alias='a/b'), 'invalid alias \'a/b\': use only letters, digits, "_", "-" and ".", not '
                        'starting with ".", at most 128 characters'),
])
def test_failures(async_dir, given, msg):
    write_job(async_dir, JID, RUNNING)
    with pytest.raises(errors.JobError) as exc:
        checked_run(async_kill, params(async_dir, **given), False)
    assert exc.value.msg == msg


def test_name_pointing_outside_is_an_error_not_absent(async_dir, outside):
    """Only a name with no job is ok; a name that cannot be used fails."""
    make_link(async_dir, 'jid_build', os.path.join(outside, JID))
    with pytest.raises(errors.JobError) as exc:
        async_kill.run(params(async_dir, alias='build'), False)
    assert "alias 'build' points outside the async dir" in exc.value.msg
