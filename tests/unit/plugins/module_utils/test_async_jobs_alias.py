# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_async_jobs.set_alias, on real async dirs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import threading

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils import _async_changes as changes
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_files as files
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_names as names

from unit_helpers import alive, LIVENESS, never, Recorder, snapshot, temp_leftovers, write_job

JID = 'j123456789012.4242'
OLD = 'j999999999999.1'
RUNNING = {'started': 1, 'finished': 0}
SUCCEEDED = {'started': 1, 'finished': 1, 'rc': 0}


def base(async_dir, alias='x', jid=JID, changed=False):
    return dict(changed=changed, ansible_job_id=jid, ansible_job_alias=alias,
                results_file=os.path.join(async_dir, jid),
                alias_file=os.path.join(async_dir, 'jid_' + alias))


def held_msg(alias, old, new):
    return ('alias %r is held by running job %s; refusing to point it at job %s. '
            'Use force: true to take the name anyway.' % (alias, old, new))


def link_of(async_dir, alias='x'):
    return os.readlink(os.path.join(async_dir, 'jid_' + alias))


# --- creating a name ----------------------------------------------------------------------------

@pytest.mark.parametrize('state', [RUNNING, SUCCEEDED, '', 'garbage'],
                         ids=['running', 'finished', 'empty', 'garbage'])
def test_create(async_dir, state):
    write_job(async_dir, JID, state)
    result = changes.set_alias(async_dir, 'x', JID, liveness=never)
    assert result == base(async_dir, changed=True)
    assert link_of(async_dir) == JID  # relative: survives moving the async dir
    assert sorted(os.listdir(async_dir)) == sorted([JID, 'jid_x'])
    assert temp_leftovers(async_dir) == []


def test_create_check_mode(async_dir):
    write_job(async_dir, JID, RUNNING)
    result = changes.set_alias(async_dir, 'x', JID, check_mode=True, liveness=never)
    assert result == base(async_dir, changed=True)
    assert os.listdir(async_dir) == [JID]


def test_create_then_status(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    changes.set_alias(async_dir, 'x', JID, liveness=never)
    status = files.job_status(async_dir, alias='x', liveness=never)
    assert status['ansible_job_id'] == JID
    assert status['state'] == 'succeeded'


# --- same target: no change ---------------------------------------------------------------------

@pytest.mark.parametrize('target', ['relative', 'absolute', 'dotted'])
@pytest.mark.parametrize('check_mode', [False, True])
def test_same_target_no_change(async_dir, target, check_mode):
    path = write_job(async_dir, JID, RUNNING)
    link = os.path.join(async_dir, 'jid_x')
    os.symlink({'relative': JID, 'absolute': path, 'dotted': './' + JID}[target], link)
    before = os.lstat(link)
    result = changes.set_alias(async_dir, 'x', JID, check_mode=check_mode, liveness=never)
    assert result == base(async_dir)
    after = os.lstat(link)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # untouched


def test_twice_is_idempotent(async_dir):
    write_job(async_dir, JID, RUNNING)
    assert changes.set_alias(async_dir, 'x', JID, liveness=never)['changed'] is True
    assert changes.set_alias(async_dir, 'x', JID, liveness=never)['changed'] is False


def test_legacy_name_of_same_job_adds_primary(async_dir):
    write_job(async_dir, JID, RUNNING)
    os.symlink(JID, os.path.join(async_dir, JID + '.jid_x'))
    result = changes.set_alias(async_dir, 'x', JID, liveness=never)
    assert result == base(async_dir, changed=True)  # no previous_job_id: the same job
    assert link_of(async_dir) == JID
    assert os.path.islink(os.path.join(async_dir, JID + '.jid_x'))


# --- moving a name from another job ----------------------------------------------------------

@pytest.mark.parametrize('old_state, liveness', [
    (SUCCEEDED, 'never'),
    ({'msg': 'Timeout exceeded', 'failed': True, 'child_pid': 1}, 'never'),
    ({'started': 1, 'finished': 1, 'killed': True}, 'never'),
    (RUNNING, 'dead'),      # orphaned
    ('', 'dead'),           # empty file, wrapper gone
    (None, 'never'),        # job file gone: a dangling name
], ids=['succeeded', 'timed_out', 'killed', 'orphaned', 'empty_orphaned', 'absent'])
@pytest.mark.parametrize('old_form', ['jid_x', 'legacy'])
def test_move_from_finished_or_absent(async_dir, old_state, liveness, old_form):
    write_job(async_dir, JID, RUNNING)
    if old_state is not None:
        write_job(async_dir, OLD, old_state)
    old_link = 'jid_x' if old_form == 'jid_x' else OLD + '.jid_x'
    os.symlink(OLD, os.path.join(async_dir, old_link))
    live = never if liveness == 'never' else LIVENESS[liveness]
    result = changes.set_alias(async_dir, 'x', JID, liveness=live)
    assert result == dict(base(async_dir, changed=True), previous_job_id=OLD)
    assert link_of(async_dir) == JID
    assert names.find_alias(async_dir, 'x') == (os.path.join(async_dir, 'jid_x'),
                                             os.path.join(async_dir, JID))
    if old_state is not None:
        assert os.path.exists(os.path.join(async_dir, OLD))  # the old result is kept
    assert temp_leftovers(async_dir) == []


def test_move_check_mode(async_dir):
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, OLD, SUCCEEDED)
    os.symlink(OLD, os.path.join(async_dir, 'jid_x'))
    result = changes.set_alias(async_dir, 'x', JID, check_mode=True, liveness=never)
    assert result == dict(base(async_dir, changed=True), previous_job_id=OLD)
    assert link_of(async_dir) == OLD


@pytest.mark.parametrize('liveness', ['alive', 'unknown'])
@pytest.mark.parametrize('check_mode', [False, True])
def test_running_holder_refused(async_dir, liveness, check_mode):
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, OLD, RUNNING)
    os.symlink(OLD, os.path.join(async_dir, 'jid_x'))
    before = snapshot(async_dir)
    rec = Recorder(LIVENESS[liveness](OLD))
    with pytest.raises(names.JobError) as exc:
        changes.set_alias(async_dir, 'x', JID, check_mode=check_mode, liveness=rec)
    assert exc.value.msg == held_msg('x', OLD, JID)
    assert exc.value.result == base(async_dir)
    assert snapshot(async_dir) == before
    assert rec.calls == [(OLD, os.getuid())]  # only the holder is checked


@pytest.mark.parametrize('check_mode', [False, True])
def test_running_holder_forced(async_dir, check_mode):
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, OLD, RUNNING)
    os.symlink(OLD, os.path.join(async_dir, 'jid_x'))
    result = changes.set_alias(async_dir, 'x', JID, force=True, check_mode=check_mode,
                          liveness=alive)
    assert result == dict(base(async_dir, changed=True), previous_job_id=OLD)
    assert link_of(async_dir) == (OLD if check_mode else JID)


# --- refusals -----------------------------------------------------------------------------------

@pytest.mark.parametrize('force', [False, True])
@pytest.mark.parametrize('check_mode', [False, True])
def test_missing_job_file(async_dir, force, check_mode):
    with pytest.raises(names.JobError) as exc:
        changes.set_alias(async_dir, 'x', JID, force=force, check_mode=check_mode, liveness=never)
    path = os.path.join(async_dir, JID)
    assert exc.value.msg == ("job %s has no state file %s in this host's async dir; is it an "
                             "async job of this host and user?" % (JID, path))
    assert exc.value.result == base(async_dir)
    assert os.listdir(async_dir) == []


def test_missing_async_dir(tmp_path):
    with pytest.raises(names.JobError) as exc:
        changes.set_alias(str(tmp_path / 'nope'), 'x', JID, liveness=never)
    assert 'has no state file' in exc.value.msg
    assert not (tmp_path / 'nope').exists()


def test_job_file_dangling_link_is_missing(async_dir):
    os.symlink('gone', os.path.join(async_dir, JID))
    with pytest.raises(names.JobError) as exc:
        changes.set_alias(async_dir, 'x', JID, liveness=never)
    assert 'has no state file' in exc.value.msg


@pytest.mark.parametrize('force', [False, True])
def test_name_pointing_outside_refused(async_dir, outside, force):
    write_job(async_dir, JID, RUNNING)
    target = write_job(outside, OLD, SUCCEEDED)
    os.symlink(target, os.path.join(async_dir, 'jid_x'))
    root = os.path.dirname(async_dir)
    before = snapshot(root)
    with pytest.raises(names.JobError) as exc:
        changes.set_alias(async_dir, 'x', JID, force=force, liveness=never)
    assert 'points outside the async dir' in exc.value.msg
    assert snapshot(root) == before


def test_directory_in_the_way_leaves_no_temp(async_dir):
    write_job(async_dir, JID, RUNNING)
    os.mkdir(os.path.join(async_dir, 'jid_x'))
    write_job(os.path.join(async_dir, 'jid_x'), 'keep', '')
    with pytest.raises(OSError):
        changes.set_alias(async_dir, 'x', JID, liveness=never)
    assert sorted(os.listdir(async_dir)) == sorted([JID, 'jid_x'])
    assert temp_leftovers(async_dir) == []


# --- atomicity ----------------------------------------------------------------------------------

def test_name_never_missing_while_moved(async_dir):
    """A reader polling the name while it is moved back and forth never finds it missing
    nor pointing anywhere else."""
    for jid in (JID, OLD):
        write_job(async_dir, jid, SUCCEEDED)
    link = os.path.join(async_dir, 'jid_x')
    changes.set_alias(async_dir, 'x', OLD, liveness=never)
    stop = threading.Event()
    seen = {'reads': 0, 'bad': []}

    def reader():
        while not stop.is_set():
            try:
                target = os.readlink(link)
            except OSError as e:
                seen['bad'].append(repr(e))
                continue
            if target not in (JID, OLD):
                seen['bad'].append(target)
            seen['reads'] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(300):
            jid = JID if i % 2 == 0 else OLD
            assert os.path.islink(link)
            result = changes.set_alias(async_dir, 'x', jid, liveness=never)
            assert os.path.islink(link)
            assert result['changed'] is True
            assert result['previous_job_id'] == (OLD if jid == JID else JID)
    finally:
        stop.set()
        thread.join()
    assert seen['bad'] == []
    assert seen['reads'] > 0
    assert sorted(os.listdir(async_dir)) == sorted([JID, OLD, 'jid_x'])
    assert temp_leftovers(async_dir) == []


# --- async dir through a symlink, real liveness --------------------------------------------------

def test_through_symlinked_async_dir(tmp_path):
    real = tmp_path / 'data' / 'async'
    real.mkdir(parents=True)
    link = tmp_path / '.ansible_async'
    link.symlink_to(real)
    write_job(str(real), JID, RUNNING)
    write_job(str(real), OLD, SUCCEEDED)
    os.symlink(OLD, str(real / 'jid_x'))
    result = changes.set_alias(str(link), 'x', JID, liveness=never)
    assert result == dict(base(str(link), changed=True), previous_job_id=OLD)
    assert os.readlink(str(real / 'jid_x')) == JID
    assert link.is_symlink()
    assert temp_leftovers(str(real)) == []


@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='needs /proc')
def test_real_liveness_holder(async_dir, fake_wrapper):
    old = fake_wrapper.jid
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, old, RUNNING)
    os.symlink(old, os.path.join(async_dir, 'jid_x'))
    with pytest.raises(names.JobError) as exc:
        changes.set_alias(async_dir, 'x', JID)
    assert exc.value.msg == held_msg('x', old, JID)
    assert link_of(async_dir) == old
    fake_wrapper.kill()
    result = changes.set_alias(async_dir, 'x', JID)
    assert result['previous_job_id'] == old
    assert link_of(async_dir) == JID


def test_same_job_spelled_through_real_path(tmp_path):
    real = tmp_path / 'data' / 'async'
    real.mkdir(parents=True)
    link = tmp_path / '.ansible_async'
    link.symlink_to(real)
    write_job(str(real), JID, RUNNING)
    os.symlink(str(real / JID), str(real / 'jid_x'))
    assert changes.set_alias(str(link), 'x', JID, liveness=alive) == base(str(link))
