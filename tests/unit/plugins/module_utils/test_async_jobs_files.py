# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_async_jobs: JobFile, read_job, finished_state, describe, _absent, _summary, _owner,
_remove, _exists, _temp_name, _atomic_symlink, atomic_write_json."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils import _async_changes as changes
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_files as files
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_names as names

from unit_helpers import temp_leftovers, unprivileged, write_job

TIMED_OUT = {'msg': 'Timeout exceeded', 'failed': True, 'child_pid': 1}
SUCCEEDED = {'started': 1, 'finished': 1, 'rc': 0, 'stdout': 'Hello', 'changed': True}
FAILED = {'started': 1, 'finished': 1, 'rc': 2, 'failed': True, 'msg': 'non-zero return code'}
KILLED = {'started': 1, 'finished': 1, 'killed': True, 'msg': 'killed'}


# --- JobFile.parsed / finished ------------------------------------------------------------------

@pytest.mark.parametrize('data, finished', [
    ({'started': 1, 'finished': 0, 'ansible_job_id': 'j1.2'}, False),
    ({'started': True, 'finished': False, 'ansible_job_id': 'j1.2'}, False),  # 2.19 writes bools
    ({'started': 1}, False),
    ({'started': 0, 'finished': 0}, False),
    ({'started': 1, 'finished': 1}, True),
    ({'started': True, 'finished': True}, True),
    ({'started': 1, 'finished': 1, 'failed': True}, True),
    (TIMED_OUT, True),  # async_wrapper's timeout result has no "started"
    ({'rc': 0, 'stdout': 'x'}, True),  # a module's own result: no "started"
    ({}, True),
])
def test_job_file_finished(data, finished):
    job = files.JobFile('/x/j1.2', True, data, json.dumps(data))
    assert job.parsed
    assert job.finished is finished


@pytest.mark.parametrize('exists, data, raw', [
    (False, None, None),
    (True, None, ''),
    (True, None, '{"started": 1, "fini'),
])
def test_job_file_unparsed_is_not_finished(exists, data, raw):
    job = files.JobFile('/x/j1.2', exists, data, raw)
    assert not job.parsed
    assert job.finished is False


# --- read_job ----------------------------------------------------------------------------------

def test_read_job_missing(async_dir):
    path = os.path.join(async_dir, 'j1.2')
    job = files.read_job(path)
    assert (job.path, job.exists, job.data, job.raw) == (path, False, None, None)
    assert not job.parsed and not job.finished


def test_read_job_missing_async_dir(tmp_path):
    job = files.read_job(str(tmp_path / 'nope' / 'j1.2'))
    assert job.exists is False


def test_read_job_under_a_file(async_dir):
    write_job(async_dir, 'file', '{}')
    job = files.read_job(os.path.join(async_dir, 'file', 'j1.2'))  # ENOTDIR
    assert job.exists is False


def test_read_job_dangling_link(async_dir):
    link = os.path.join(async_dir, 'jid_x')
    os.symlink('j1.2', link)
    assert files.read_job(link).exists is False


@pytest.mark.parametrize('raw', [
    '',
    '   \n',
    '{"started": 1, "fini',
    'not json',
    '[1, 2]',
    '"a string"',
    '42',
    'null',
])
def test_read_job_unparsable_or_not_a_dict(async_dir, raw):
    path = write_job(async_dir, 'j1.2', raw)
    job = files.read_job(path)
    assert (job.exists, job.data, job.raw) == (True, None, raw)
    assert not job.parsed and not job.finished


@pytest.mark.parametrize('data', [
    {'started': 1, 'finished': 0, 'ansible_job_id': 'j1.2'},
    {'started': True, 'finished': False, 'ansible_job_id': 'j1.2'},
    SUCCEEDED, TIMED_OUT,
    {'stdout': 'caf\u00e9 \u2603', 'rc': 0},
])
def test_read_job_dict(async_dir, data):
    path = write_job(async_dir, 'j1.2', data)
    job = files.read_job(path)
    assert job.exists and job.parsed
    assert job.data == data
    assert json.loads(job.raw) == data


def test_read_job_through_alias_link(async_dir):
    write_job(async_dir, 'j1.2', SUCCEEDED)
    os.symlink('j1.2', os.path.join(async_dir, 'jid_x'))
    assert files.read_job(os.path.join(async_dir, 'jid_x')).data == SUCCEEDED


def test_read_job_invalid_utf8(async_dir):
    path = os.path.join(async_dir, 'j1.2')
    with open(path, 'wb') as f:
        f.write(b'{"stdout": "\xff\xfe", "rc": 0}')
    job = files.read_job(path)
    assert job.data == {'stdout': '\ufffd\ufffd', 'rc': 0}


def test_read_job_directory_raises(async_dir):
    # not a missing, empty or unparsable file: reported as an error, not as "absent"
    os.mkdir(os.path.join(async_dir, 'j1.2'))
    with pytest.raises(OSError):
        files.read_job(os.path.join(async_dir, 'j1.2'))


# --- finished_state ---------------------------------------------------------------------------

@pytest.mark.parametrize('data, state', [
    ({}, 'succeeded'),
    ({'rc': 0}, 'succeeded'),
    (SUCCEEDED, 'succeeded'),
    ({'failed': False}, 'succeeded'),
    ({'failed': 0, 'killed': False}, 'succeeded'),
    ({'msg': 'Timeout exceeded'}, 'succeeded'),  # a message alone is not a failure
    (FAILED, 'failed'),
    ({'failed': 1}, 'failed'),
    ({'failed': True, 'msg': 'Timeout exceeded!'}, 'failed'),
    ({'failed': True, 'msg': 'timeout exceeded'}, 'failed'),
    (TIMED_OUT, 'timed_out'),
    ({'msg': 'Timeout exceeded', 'failed': 1, 'finished': 1}, 'timed_out'),
    (KILLED, 'killed'),
    ({'killed': 1}, 'killed'),
    ({'killed': True, 'msg': 'Timeout exceeded', 'failed': True}, 'killed'),  # killed first
    ({'killed': True, 'failed': True}, 'killed'),
])
def test_finished_state(data, state):
    assert files.finished_state(data) == state
    assert state in files.FINISHED_STATES


# --- describe -----------------------------------------------------------------------------------

def job_file(data=None, raw=None, path='/a/j1.2'):
    if raw is None and data is not None:
        raw = json.dumps(data)
    return files.JobFile(path, True, data, raw)


def orphan_msg(why, jid='j1.2'):
    return ('job %s never finished: %s (killed, crashed or the host rebooted); its result is lost'
            % (jid, why))


@pytest.mark.parametrize('data, state, killed', [
    (SUCCEEDED, 'succeeded', False),
    ({'started': True, 'finished': True, 'rc': 0}, 'succeeded', False),
    (FAILED, 'failed', False),
    (TIMED_OUT, 'timed_out', False),
    (KILLED, 'killed', True),
])
@pytest.mark.parametrize('alive', [True, False, None])
def test_describe_finished(data, state, killed, alive):
    # a finished job's liveness does not matter
    result = files.describe(job_file(data), 'j1.2', alive)
    expected = dict(data)
    expected.update(started=1, finished=1, killed=killed, pid_missing=False, state=state,
                    ansible_job_id='j1.2', results_file='/a/j1.2')
    assert result == expected
    # bools, not ints: ansible-core 2.21 warns about an int 'finished' in a module result
    assert all(result[k] is True for k in ('started', 'finished'))


def test_describe_overrides_file_identity():
    data = dict(SUCCEEDED, ansible_job_id='j9.9', results_file='/elsewhere', pid_missing=True,
                state='bogus')
    result = files.describe(job_file(data), 'j1.2', True)
    assert result['ansible_job_id'] == 'j1.2'
    assert result['results_file'] == '/a/j1.2'
    assert result['pid_missing'] is False
    assert result['state'] == 'succeeded'


@pytest.mark.parametrize('data', [
    {'started': 1, 'finished': 0, 'ansible_job_id': 'j1.2'},
    {'started': True, 'finished': False, 'ansible_job_id': 'j1.2'},
])
@pytest.mark.parametrize('alive', [True, None])
def test_describe_running(data, alive):
    result = files.describe(job_file(data), 'j1.2', alive)
    assert result == dict(started=1, finished=0, killed=False, pid_missing=False,
                          state='running', ansible_job_id='j1.2', results_file='/a/j1.2')


@pytest.mark.parametrize('raw', ['', '{"started": 1, "fini'])
@pytest.mark.parametrize('alive', [True, None])
def test_describe_unparsed_running(raw, alive):
    result = files.describe(job_file(raw=raw), 'j1.2', alive)
    assert result == dict(started=1, finished=0, killed=False, pid_missing=False,
                          state='running', ansible_job_id='j1.2', results_file='/a/j1.2')


@pytest.mark.parametrize('data, raw, why', [
    ({'started': 1, 'finished': 0, 'ansible_job_id': 'j1.2'}, None,
     'its async_wrapper process is gone'),
    ({'started': True, 'finished': False, 'ansible_job_id': 'j1.2'}, None,
     'its async_wrapper process is gone'),
    (None, '{"started": 1, "fini', 'its job file is not valid JSON and its async_wrapper '
                                   'process is gone'),
    (None, '[1]', 'its job file is not valid JSON and its async_wrapper process is gone'),
    (None, '', 'its job file is empty and its async_wrapper process is gone'),
    (None, ' \n\t', 'its job file is empty and its async_wrapper process is gone'),
])
def test_describe_orphaned(data, raw, why):
    result = files.describe(job_file(data, raw), 'j1.2', False)
    assert result == dict(started=1, finished=1, killed=False, pid_missing=True, failed=True,
                          state='orphaned', ansible_job_id='j1.2', results_file='/a/j1.2',
                          msg=orphan_msg(why))


# --- _absent, _summary, _owner, _exists ----------------------------------------------------------

def test_absent():
    assert files._absent('x', None, None) == dict(
        started=0, finished=0, killed=False, pid_missing=False, state='absent',
        ansible_job_id=None, ansible_job_alias='x', results_file=None)
    assert files._absent('x', 'j1.2', '/a/j1.2') == dict(
        started=0, finished=0, killed=False, pid_missing=False, state='absent',
        ansible_job_id='j1.2', ansible_job_alias='x', results_file='/a/j1.2')


def test_summary():
    status = dict(SUCCEEDED, started=1, finished=1, killed=False, pid_missing=False,
                  state='succeeded', ansible_job_id='j1.2', results_file='/a/j1.2',
                  warnings=['w'])
    assert files.summary(status) == dict(started=1, finished=1, killed=False, pid_missing=False,
                                       state='succeeded', ansible_job_id='j1.2',
                                       results_file='/a/j1.2')
    assert files.summary(dict(status, ansible_job_alias='x'))['ansible_job_alias'] == 'x'
    assert files.summary({}) == {}


def test_owner(async_dir):
    path = write_job(async_dir, 'j1.2', '{}')
    assert files._owner(path) == os.getuid() == os.stat(path).st_uid
    assert files._owner(os.path.join(async_dir, 'nope')) is None


# --- _remove -------------------------------------------------------------------------------------

@pytest.mark.parametrize('check_mode', [False, True])
def test_remove_file(async_dir, check_mode):
    path = write_job(async_dir, 'j1.2', '{}')
    assert changes.remove_entry(async_dir, path, check_mode) is True
    assert os.path.exists(path) is check_mode


@pytest.mark.parametrize('check_mode', [False, True])
def test_remove_link_not_its_target(async_dir, outside, check_mode):
    target = write_job(outside, 'j1.2', '{}')
    link = os.path.join(async_dir, 'jid_x')
    os.symlink(target, link)
    assert changes.remove_entry(async_dir, link, check_mode) is True
    assert os.path.lexists(link) is check_mode
    assert os.path.exists(target)


def test_remove_link_to_directory(async_dir, outside):
    link = os.path.join(async_dir, 'jid_x')
    os.symlink(outside, link)
    assert changes.remove_entry(async_dir, link, False) is True
    assert not os.path.lexists(link)
    assert os.path.isdir(outside)


def test_remove_missing(async_dir):
    path = os.path.join(async_dir, 'j1.2')
    assert changes.remove_entry(async_dir, path, False) is False
    assert changes.remove_entry(async_dir, path, True) is True  # check mode does not look


@pytest.mark.parametrize('check_mode', [False, True])
def test_remove_outside_refused(async_dir, outside, check_mode):
    path = write_job(outside, 'j1.2', '{}')
    with pytest.raises(names.JobError) as exc:
        changes.remove_entry(async_dir, path, check_mode)
    assert exc.value.msg == 'refusing to remove %s: it is outside the async dir %s' % (
        path, async_dir)
    assert os.path.exists(path)


def test_remove_outside_through_dotdot_refused(async_dir, outside):
    write_job(outside, 'j1.2', '{}')
    path = os.path.join(async_dir, '..', 'outside', 'j1.2')
    with pytest.raises(names.JobError):
        changes.remove_entry(async_dir, path, False)
    assert os.path.exists(path)


@pytest.mark.parametrize('check_mode', [False, True])
def test_remove_directory_refused(async_dir, check_mode):
    path = os.path.join(async_dir, 'j1.2')
    os.mkdir(path)
    with pytest.raises(names.JobError) as exc:
        changes.remove_entry(async_dir, path, check_mode)
    assert exc.value.msg == 'refusing to remove %s: it is a directory' % path
    assert os.path.isdir(path)


# --- _temp_name ----------------------------------------------------------------------------------

def test_temp_name(async_dir):
    temps = set(names.temp_name('jid_x') for dummy in range(50))
    assert len(temps) == 50
    for name in temps:
        assert re.match(r'^\.jid_x\.[0-9a-f]{12}\.tmp$', name)
        assert names.temp_base(name) == 'jid_x'
        # never taken for an alias of either form, nor for a job id
        base = os.path.basename(name)
        assert not base.startswith(names.ALIAS_PREFIX)
        assert not names.JID_RE.match(base)


# --- _atomic_symlink ------------------------------------------------------------------------------

def test_atomic_symlink_creates(async_dir):
    link = os.path.join(async_dir, 'jid_x')
    changes._atomic_symlink(async_dir, 'j1.2', link)
    assert os.readlink(link) == 'j1.2'
    assert temp_leftovers(async_dir) == []


def test_atomic_symlink_replaces(async_dir):
    link = os.path.join(async_dir, 'jid_x')
    os.symlink('j1.1', link)
    changes._atomic_symlink(async_dir, 'j2.2', link)
    assert os.readlink(link) == 'j2.2'
    assert sorted(os.listdir(async_dir)) == ['jid_x']


def test_atomic_symlink_failure_leaves_no_temp(async_dir):
    # a non-empty directory where the link should go: the rename fails
    link = os.path.join(async_dir, 'jid_x')
    os.mkdir(link)
    write_job(link, 'keep', '{}')
    with pytest.raises(OSError):
        changes._atomic_symlink(async_dir, 'j1.2', link)
    assert sorted(os.listdir(async_dir)) == ['jid_x']
    assert os.listdir(link) == ['keep']


# --- atomic_write_json -----------------------------------------------------------------------------

@pytest.mark.parametrize('data', [
    {},
    {'started': 1, 'finished': 1, 'rc': 0},
    {'stdout': 'caf\u00e9 \u2603', 'list': [1, 2, {'a': None}]},
])
def test_atomic_write_json_creates(async_dir, data):
    path = os.path.join(async_dir, 'j1.2')
    changes.atomic_write_json(path, data)
    with open(path) as f:
        assert json.load(f) == data
    assert temp_leftovers(async_dir) == []
    assert os.listdir(async_dir) == ['j1.2']


def test_atomic_write_json_replaces(async_dir):
    path = write_job(async_dir, 'j1.2', {'started': 1, 'finished': 0})
    ino = os.stat(path).st_ino
    changes.atomic_write_json(path, SUCCEEDED)
    assert files.read_job(path).data == SUCCEEDED
    assert os.stat(path).st_ino != ino  # renamed over, not rewritten in place
    assert temp_leftovers(async_dir) == []


def test_atomic_write_json_failure_keeps_original(async_dir):
    path = write_job(async_dir, 'j1.2', {'started': 1, 'finished': 0})
    with pytest.raises(TypeError):
        changes.atomic_write_json(path, {'bad': object()})
    assert files.read_job(path).data == {'started': 1, 'finished': 0}
    assert temp_leftovers(async_dir) == []
    assert os.listdir(async_dir) == ['j1.2']


def test_atomic_write_json_missing_dir(tmp_path):
    with pytest.raises(OSError):
        changes.atomic_write_json(str(tmp_path / 'nope' / 'j1.2'), {})
    assert not (tmp_path / 'nope').exists()


def test_remove_permission_denied_is_raised(world_readable_tmp):
    d = os.path.join(world_readable_tmp, 'async')
    os.mkdir(d)
    path = write_job(d, 'j1.2', '{}')
    os.chmod(d, 0o555)  # readable, not writable: the unlink fails with EACCES
    try:
        with unprivileged():
            with pytest.raises(OSError):
                changes.remove_entry(d, path, False)
            assert changes.remove_entry(d, path, True) is True  # check mode does not try
    finally:
        os.chmod(d, 0o755)
    assert os.path.exists(path)


def test_read_job_permission_denied_is_raised(world_readable_tmp):
    path = write_job(world_readable_tmp, 'j1.2', '{}')
    os.chmod(path, 0)
    with unprivileged():
        with pytest.raises(OSError):
            files.read_job(path)
