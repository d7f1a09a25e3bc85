# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/writes.py: every change to the async dir.

Covers remove_entry, _atomic_symlink, atomic_write_json, alias_lock (across real
processes, and its timeout), nolock, links_to, set_alias, free_name, release, cleanup
(modes cleanup and full_cleanup) and cleanup_many, on real async dirs; a name is
checked never to be missing while it is moved, and nothing outside the async dir is
ever touched.
"""

import errno
import fcntl
import json
import os
import select
import stat
import subprocess
import sys
import threading

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    async_dir as adir, job_status as files, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors

from unit_helpers import (alive, dead, FakeClock, LIVENESS, make_link, never, Recorder,
                          RUNNING_INT, snapshot, temp_leftovers, unprivileged, write_job)


# Job files and ids. The tests of set_alias, free_name, release, atomic_write_json and
# cleanup_many had their own (without ansible_job_id, another stdout, another pid in
# OTHER); they look at none of those, only at states, names and paths.
JID = 'j123456789012.4242'
OTHER = 'j999999999999.1'
OLD = 'j999999999999.1'  # set_alias: the job that held the name before
RUNNING = {'started': 1, 'finished': 0, 'ansible_job_id': JID}
SUCCEEDED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'rc': 0, 'stdout': 'Hello'}
J1, J2, J3 = 'j111.1', 'j222.2', 'j333.3'
DONE = {'rc': 0, 'stdout': 'done'}
REFUSAL = ('job %s%s is still running; refusing to remove %s, because a re-run would then '
           'start a duplicate. Use force: true to remove it anyway.')


def refusal(what, alias=None, jid=JID):
    return REFUSAL % (jid, (' (alias %r)' % alias) if alias is not None else '', what)


# --- remove_entry --------------------------------------------------------------------------------

@pytest.mark.parametrize('check_mode', [False, True])
def test_remove_entry_file(async_dir, check_mode):
    path = write_job(async_dir, 'j1.2', '{}')
    assert changes.remove_entry(async_dir, path, check_mode) is True
    assert os.path.exists(path) is check_mode


@pytest.mark.parametrize('check_mode', [False, True])
def test_remove_entry_link_not_its_target(async_dir, outside, check_mode):
    target = write_job(outside, 'j1.2', '{}')
    link = os.path.join(async_dir, 'jid_x')
    os.symlink(target, link)
    assert changes.remove_entry(async_dir, link, check_mode) is True
    assert os.path.lexists(link) is check_mode
    assert os.path.exists(target)


def test_remove_entry_link_to_directory(async_dir, outside):
    link = os.path.join(async_dir, 'jid_x')
    os.symlink(outside, link)
    assert changes.remove_entry(async_dir, link, False) is True
    assert not os.path.lexists(link)
    assert os.path.isdir(outside)


def test_remove_entry_missing(async_dir):
    path = os.path.join(async_dir, 'j1.2')
    assert changes.remove_entry(async_dir, path, False) is False
    assert changes.remove_entry(async_dir, path, True) is True  # check mode does not look


@pytest.mark.parametrize('check_mode', [False, True])
def test_remove_entry_outside_refused(async_dir, outside, check_mode):
    path = write_job(outside, 'j1.2', '{}')
    with pytest.raises(errors.JobError) as exc:
        changes.remove_entry(async_dir, path, check_mode)
    assert exc.value.msg == 'refusing to remove %s: it is outside the async dir %s' % (
        path, async_dir)
    assert os.path.exists(path)


def test_remove_entry_outside_through_dotdot_refused(async_dir, outside):
    write_job(outside, 'j1.2', '{}')
    path = os.path.join(async_dir, '..', 'outside', 'j1.2')
    with pytest.raises(errors.JobError):
        changes.remove_entry(async_dir, path, False)
    assert os.path.exists(path)


@pytest.mark.parametrize('check_mode', [False, True])
def test_remove_entry_directory_refused(async_dir, check_mode):
    path = os.path.join(async_dir, 'j1.2')
    os.mkdir(path)
    with pytest.raises(errors.JobError) as exc:
        changes.remove_entry(async_dir, path, check_mode)
    assert exc.value.msg == 'refusing to remove %s: it is a directory' % path
    assert os.path.isdir(path)


def test_remove_entry_permission_denied_is_raised(world_readable_tmp):
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


# --- _atomic_symlink -----------------------------------------------------------------------------

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


# --- atomic_write_json ---------------------------------------------------------------------------

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


@pytest.mark.parametrize('durable,synced', [(True, 1), (False, 0)])
def test_atomic_write_json_syncs_only_durable_records(async_dir, monkeypatch, durable, synced):
    """A job's result is synced to disk before the rename; a claim or meta record is not."""
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(changes.os, 'fsync', lambda fd: calls.append(fd) or real_fsync(fd))
    path = os.path.join(async_dir, 'j1.2')
    changes.atomic_write_json(path, SUCCEEDED, durable=durable)
    assert len(calls) == synced
    assert files.read_job(path).data == SUCCEEDED
    assert temp_leftovers(async_dir) == []


def test_atomic_write_json_missing_dir(tmp_path):
    with pytest.raises(OSError):
        changes.atomic_write_json(str(tmp_path / 'nope' / 'j1.2'), {})
    assert not (tmp_path / 'nope').exists()


# --- alias_lock ----------------------------------------------------------------------------------

HOLDER = r'''
import sys
from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import alias_lock
with alias_lock(sys.argv[1], sys.argv[2]):
    print('locked', flush=True)
    sys.stdin.readline()
print('released', flush=True)
'''


def holder(async_dir, alias):
    """A process holding the lock of ``alias`` until a line is written to its stdin."""
    p = subprocess.Popen([sys.executable, '-c', HOLDER, async_dir, alias],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
                         universal_newlines=True)
    return p


def readline(p, timeout):
    """A line of the process's output, or None when none comes within ``timeout``."""
    ready, _w, _x = select.select([p.stdout], [], [], timeout)
    return p.stdout.readline().strip() if ready else None


def try_flock(path):
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        assert e.errno in (errno.EAGAIN, errno.EWOULDBLOCK)
        return False
    finally:
        os.close(fd)


def test_alias_lock_held_by_another_process(async_dir):
    p = holder(async_dir, 'build')
    try:
        assert readline(p, 15) == 'locked'
        path = os.path.join(async_dir, '.jid_build.lock')
        assert try_flock(path) is False
        assert try_flock(path) is False
        p.stdin.write('go\n')
        p.stdin.flush()
        assert readline(p, 15) == 'released'
        assert try_flock(path) is True
    finally:
        p.stdin.close()
        p.wait(15)
    assert p.returncode == 0


def test_alias_lock_blocks_another_process(async_dir):
    with changes.alias_lock(async_dir, 'build'):
        p = holder(async_dir, 'build')
        try:
            assert readline(p, 0.5) is None  # it waits for us
        except BaseException:
            p.kill()
            p.wait()
            raise
    try:
        assert readline(p, 15) == 'locked'
        p.stdin.write('go\n')
        p.stdin.flush()
        assert readline(p, 15) == 'released'
    finally:
        p.stdin.close()
        p.wait(15)


def test_alias_lock_other_name_not_blocked(async_dir):
    p = holder(async_dir, 'build')
    try:
        assert readline(p, 15) == 'locked'
        done = []

        def other():
            with changes.alias_lock(async_dir, 'deploy'):
                done.append(True)

        t = threading.Thread(target=other)
        t.daemon = True
        t.start()
        t.join(5)
        assert done == [True]
        assert try_flock(os.path.join(async_dir, '.jid_build.lock')) is False
    finally:
        p.stdin.close()
        p.wait(15)


def test_alias_lock_file(async_dir):
    lock = changes.alias_lock(async_dir, 'build')
    assert lock.path == os.path.join(async_dir, '.jid_build.lock')
    assert lock.fd is None
    with lock as entered:
        assert entered is lock
        assert isinstance(lock.fd, int)
        assert try_flock(lock.path) is False
        st = os.stat(lock.path)
        assert stat.S_ISREG(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o600
    assert try_flock(lock.path) is True
    with pytest.raises(OSError):
        os.fstat(lock.fd)  # closed
    assert os.listdir(async_dir) == ['.jid_build.lock']  # the lock file stays, empty
    assert os.path.getsize(lock.path) == 0


def test_alias_lock_released_on_error(async_dir):
    with pytest.raises(KeyError):
        with changes.alias_lock(async_dir, 'build'):
            raise KeyError('not swallowed')
    assert try_flock(os.path.join(async_dir, '.jid_build.lock')) is True


@pytest.mark.parametrize('umask', [0o022, 0o000, 0o077])
def test_alias_lock_creates_async_dir_0700(tmp_path, umask):
    d = str(tmp_path / 'home' / '.ansible_async')
    old = os.umask(umask)
    try:
        with changes.alias_lock(d, 'build'):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(d, '.jid_build.lock')).st_mode) == 0o600 & ~umask


def test_alias_lock_keeps_existing_dir_mode(async_dir):
    os.chmod(async_dir, 0o755)
    with changes.alias_lock(async_dir, 'build'):
        pass
    assert stat.S_IMODE(os.stat(async_dir).st_mode) == 0o755


def test_alias_lock_reuses_existing_lock_file(async_dir):
    path = os.path.join(async_dir, '.jid_build.lock')
    with open(path, 'w') as f:
        f.write('left over')
    os.chmod(path, 0o644)
    with changes.alias_lock(async_dir, 'build'):
        assert try_flock(path) is False
    with open(path) as f:
        assert f.read() == 'left over'


def test_alias_lock_async_dir_is_a_file(tmp_path):
    f = tmp_path / 'file'
    f.write_text('x')
    with pytest.raises(errors.JobError, match='is not safe to write in: it is not a directory'):
        with changes.alias_lock(str(f), 'build'):
            pass


def test_alias_lock_timeout(async_dir):
    locker = subprocess.Popen(
        [sys.executable, '-c', 'import fcntl, os, sys, time\n'
         'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n'
         'fcntl.flock(fd, fcntl.LOCK_EX)\nprint("locked", flush=True)\ntime.sleep(60)\n',
         os.path.join(async_dir, '.jid_build.lock')], stdout=subprocess.PIPE)
    try:
        assert locker.stdout.readline() == b'locked\n'
        c = FakeClock()
        with pytest.raises(errors.JobError) as exc:
            with changes.alias_lock(async_dir, 'build', timeout=2, clock=c.clock, sleep=c.sleep):
                pass
        assert exc.value.msg == ('another run has held the lock of the name %r (%s) for 2 s; try '
                                 'again later' % ('build', os.path.join(async_dir, '.jid_build.lock')))
        assert set(c.sleeps) == {0.05} and 2.0 <= sum(c.sleeps) < 2.05 + 1e-9
    finally:
        locker.kill()
        locker.wait()
    with changes.alias_lock(async_dir, 'build', timeout=2):
        pass


# --- nolock --------------------------------------------------------------------------------------

def test_nolock():
    lock = changes.nolock()
    with lock as entered:
        assert entered is lock
    with pytest.raises(KeyError):
        with changes.nolock():
            raise KeyError('not swallowed')


# --- links_to ------------------------------------------------------------------------------------

def test_links_to(async_dir, outside):
    job = write_job(async_dir, 'j1.2', RUNNING_INT)
    write_job(async_dir, 'j3.4', RUNNING_INT)
    pointing = {'jid_a': 'j1.2', 'jid_b': job, 'j1.2.jid_c': 'j1.2', 'j1.2.jid_d': './j1.2',
                'jid_e': '../async/j1.2'}
    others = {'jid_other': 'j3.4', 'j3.4.jid_other': 'j3.4', 'jid_out': outside + '/j1.2',
              'unrelated': 'j1.2',          # not an alias name
              'j1.2.tmp': 'j1.2',           # not an alias name
              'jid_tmp': 'j1.2.tmp'}
    for name, target in dict(pointing, **others).items():
        os.symlink(target, os.path.join(async_dir, name))
    write_job(async_dir, 'jid_file', '{}')  # a regular file named like an alias
    expected = sorted(os.path.join(async_dir, n) for n in pointing)
    assert changes.links_to(async_dir, job) == expected
    assert changes.links_to(async_dir, job + '/.') == expected  # normalised
    assert changes.links_to(async_dir, os.path.join(async_dir, 'j3.4')) == sorted(
        os.path.join(async_dir, n) for n in ('jid_other', 'j3.4.jid_other'))


def test_links_to_dangling(async_dir):
    # the job file need not exist: full_cleanup of a dangling alias uses this
    os.symlink('j1.2', os.path.join(async_dir, 'jid_x'))
    assert changes.links_to(async_dir, os.path.join(async_dir, 'j1.2')) == [
        os.path.join(async_dir, 'jid_x')]


def test_links_to_none(async_dir):
    job = write_job(async_dir, 'j1.2', RUNNING_INT)
    assert changes.links_to(async_dir, job) == []


def test_links_to_missing_async_dir(tmp_path):
    d = str(tmp_path / 'nope')
    assert changes.links_to(d, os.path.join(d, 'j1.2')) == []


def test_links_to_through_symlinked_async_dir(linked_async):
    real, link = linked_async
    write_job(real, 'j1.2', RUNNING_INT)
    os.symlink('j1.2', os.path.join(real, 'jid_rel'))
    os.symlink(os.path.join(link, 'j1.2'), os.path.join(real, 'jid_abs'))
    assert changes.links_to(link, os.path.join(link, 'j1.2')) == [
        os.path.join(link, 'jid_abs'), os.path.join(link, 'jid_rel')]


def test_links_to_mixed_spellings_through_symlinked_async_dir(linked_async):
    real, link = linked_async
    write_job(real, 'j1.2', RUNNING_INT)
    os.symlink('j1.2', os.path.join(real, 'jid_rel'))
    os.symlink(os.path.join(real, 'j1.2'), os.path.join(real, 'jid_real'))
    assert changes.links_to(link, os.path.join(link, 'j1.2')) == [
        os.path.join(link, 'jid_real'), os.path.join(link, 'jid_rel')]


# errors other than "missing" are raised, not taken for no link (as in _shared.names: its
# tests of the same name in _shared/test_names.py)
def test_links_to_async_dir_is_a_file(tmp_path):
    not_a_dir = tmp_path / 'file'
    not_a_dir.write_text('')
    d = str(not_a_dir)
    with pytest.raises(OSError):
        changes.links_to(d, os.path.join(d, 'j1.2'))


def test_links_to_unsearchable_async_dir_is_an_error(world_readable_tmp):
    d = os.path.join(world_readable_tmp, 'async')
    os.mkdir(d)
    os.symlink('j1.2', os.path.join(d, 'jid_x'))
    os.chmod(d, 0)  # another user's async dir: not even readlink works
    try:
        with unprivileged():
            with pytest.raises(OSError):
                changes.links_to(d, os.path.join(d, 'j1.2'))
    finally:
        os.chmod(d, 0o755)


# --- set_alias -----------------------------------------------------------------------------------

def base(async_dir, alias='x', jid=JID, changed=False):
    return dict(changed=changed, ansible_job_id=jid, ansible_job_alias=alias,
                results_file=os.path.join(async_dir, jid),
                alias_file=os.path.join(async_dir, 'jid_' + alias))


def held_msg(alias, old, new):
    return ('alias %r is held by running job %s; refusing to point it at job %s. '
            'Use force: true to take the name anyway.' % (alias, old, new))


def link_of(async_dir, alias='x'):
    return os.readlink(os.path.join(async_dir, 'jid_' + alias))


@pytest.mark.parametrize('state', [RUNNING, SUCCEEDED, '', 'garbage'],
                         ids=['running', 'finished', 'empty', 'garbage'])
def test_set_alias_create(async_dir, state):
    write_job(async_dir, JID, state)
    result = changes.set_alias(async_dir, 'x', JID, liveness=never)
    assert result == base(async_dir, changed=True)
    assert link_of(async_dir) == JID  # relative: survives moving the async dir
    assert sorted(os.listdir(async_dir)) == sorted([JID, 'jid_x'])
    assert temp_leftovers(async_dir) == []


def test_set_alias_create_check_mode(async_dir):
    write_job(async_dir, JID, RUNNING)
    result = changes.set_alias(async_dir, 'x', JID, check_mode=True, liveness=never)
    assert result == base(async_dir, changed=True)
    assert os.listdir(async_dir) == [JID]


def test_set_alias_create_then_status(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    changes.set_alias(async_dir, 'x', JID, liveness=never)
    status = files.job_status(async_dir, alias='x', liveness=never)
    assert status['ansible_job_id'] == JID
    assert status['state'] == 'succeeded'


@pytest.mark.parametrize('target', ['relative', 'absolute', 'dotted'])
@pytest.mark.parametrize('check_mode', [False, True])
def test_set_alias_same_target_no_change(async_dir, target, check_mode):
    path = write_job(async_dir, JID, RUNNING)
    link = os.path.join(async_dir, 'jid_x')
    os.symlink({'relative': JID, 'absolute': path, 'dotted': './' + JID}[target], link)
    before = os.lstat(link)
    result = changes.set_alias(async_dir, 'x', JID, check_mode=check_mode, liveness=never)
    assert result == base(async_dir)
    after = os.lstat(link)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # untouched


def test_set_alias_twice_is_idempotent(async_dir):
    write_job(async_dir, JID, RUNNING)
    assert changes.set_alias(async_dir, 'x', JID, liveness=never)['changed'] is True
    assert changes.set_alias(async_dir, 'x', JID, liveness=never)['changed'] is False


def test_set_alias_legacy_name_of_same_job_adds_primary(async_dir):
    write_job(async_dir, JID, RUNNING)
    os.symlink(JID, os.path.join(async_dir, JID + '.jid_x'))
    result = changes.set_alias(async_dir, 'x', JID, liveness=never)
    assert result == base(async_dir, changed=True)  # no previous_job_id: the same job
    assert link_of(async_dir) == JID
    assert os.path.islink(os.path.join(async_dir, JID + '.jid_x'))


@pytest.mark.parametrize('old_state, liveness', [
    (SUCCEEDED, 'never'),
    ({'msg': 'Timeout exceeded', 'failed': True, 'child_pid': 1}, 'never'),
    ({'started': 1, 'finished': 1, 'killed': True}, 'never'),
    (RUNNING, 'dead'),      # orphaned
    ('', 'dead'),           # empty file, wrapper gone
    (None, 'never'),        # job file gone: a dangling name
], ids=['succeeded', 'timed_out', 'killed', 'orphaned', 'empty_orphaned', 'absent'])
@pytest.mark.parametrize('old_form', ['jid_x', 'legacy'])
def test_set_alias_move_from_finished_or_absent(async_dir, old_state, liveness, old_form):
    write_job(async_dir, JID, RUNNING)
    if old_state is not None:
        write_job(async_dir, OLD, old_state)
    old_link = 'jid_x' if old_form == 'jid_x' else OLD + '.jid_x'
    os.symlink(OLD, os.path.join(async_dir, old_link))
    live = never if liveness == 'never' else LIVENESS[liveness]
    result = changes.set_alias(async_dir, 'x', JID, liveness=live)
    assert result == dict(base(async_dir, changed=True), previous_job_id=OLD)
    assert link_of(async_dir) == JID
    assert adir.find_alias(async_dir, 'x') == (os.path.join(async_dir, 'jid_x'),
                                               os.path.join(async_dir, JID))
    if old_state is not None:
        assert os.path.exists(os.path.join(async_dir, OLD))  # the old result is kept
    assert temp_leftovers(async_dir) == []


def test_set_alias_move_check_mode(async_dir):
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, OLD, SUCCEEDED)
    os.symlink(OLD, os.path.join(async_dir, 'jid_x'))
    result = changes.set_alias(async_dir, 'x', JID, check_mode=True, liveness=never)
    assert result == dict(base(async_dir, changed=True), previous_job_id=OLD)
    assert link_of(async_dir) == OLD


@pytest.mark.parametrize('liveness', ['alive', 'unknown'])
@pytest.mark.parametrize('check_mode', [False, True])
def test_set_alias_running_holder_refused(async_dir, liveness, check_mode):
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, OLD, RUNNING)
    os.symlink(OLD, os.path.join(async_dir, 'jid_x'))
    before = snapshot(async_dir)
    rec = Recorder(LIVENESS[liveness](OLD))
    with pytest.raises(errors.JobError) as exc:
        changes.set_alias(async_dir, 'x', JID, check_mode=check_mode, liveness=rec)
    assert exc.value.msg == held_msg('x', OLD, JID)
    assert exc.value.result == base(async_dir)
    assert snapshot(async_dir) == before
    assert rec.calls == [(OLD, os.getuid())]  # only the holder is checked


@pytest.mark.parametrize('check_mode', [False, True])
def test_set_alias_running_holder_forced(async_dir, check_mode):
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, OLD, RUNNING)
    os.symlink(OLD, os.path.join(async_dir, 'jid_x'))
    result = changes.set_alias(async_dir, 'x', JID, force=True, check_mode=check_mode,
                               liveness=alive)
    assert result == dict(base(async_dir, changed=True), previous_job_id=OLD)
    assert link_of(async_dir) == (OLD if check_mode else JID)


@pytest.mark.parametrize('force', [False, True])
@pytest.mark.parametrize('check_mode', [False, True])
def test_set_alias_missing_job_file(async_dir, force, check_mode):
    with pytest.raises(errors.JobError) as exc:
        changes.set_alias(async_dir, 'x', JID, force=force, check_mode=check_mode, liveness=never)
    path = os.path.join(async_dir, JID)
    assert exc.value.msg == ("job %s has no state file %s in this host's async dir; is it an "
                             "async job of this host and user?" % (JID, path))
    assert exc.value.result == base(async_dir)
    assert os.listdir(async_dir) == []


def test_set_alias_missing_async_dir(tmp_path):
    with pytest.raises(errors.JobError) as exc:
        changes.set_alias(str(tmp_path / 'nope'), 'x', JID, liveness=never)
    assert 'has no state file' in exc.value.msg
    assert not (tmp_path / 'nope').exists()


def test_set_alias_job_file_dangling_link_is_missing(async_dir):
    os.symlink('gone', os.path.join(async_dir, JID))
    with pytest.raises(errors.JobError) as exc:
        changes.set_alias(async_dir, 'x', JID, liveness=never)
    assert 'has no state file' in exc.value.msg


@pytest.mark.parametrize('force', [False, True])
def test_set_alias_name_pointing_outside_refused(async_dir, outside, force):
    write_job(async_dir, JID, RUNNING)
    target = write_job(outside, OLD, SUCCEEDED)
    os.symlink(target, os.path.join(async_dir, 'jid_x'))
    root = os.path.dirname(async_dir)
    before = snapshot(root)
    with pytest.raises(errors.JobError) as exc:
        changes.set_alias(async_dir, 'x', JID, force=force, liveness=never)
    assert 'points outside the async dir' in exc.value.msg
    assert snapshot(root) == before


def test_set_alias_directory_in_the_way_leaves_no_temp(async_dir):
    write_job(async_dir, JID, RUNNING)
    os.mkdir(os.path.join(async_dir, 'jid_x'))
    write_job(os.path.join(async_dir, 'jid_x'), 'keep', '')
    with pytest.raises(OSError):
        changes.set_alias(async_dir, 'x', JID, liveness=never)
    assert sorted(os.listdir(async_dir)) == sorted([JID, 'jid_x'])
    assert temp_leftovers(async_dir) == []


def test_set_alias_name_never_missing_while_moved(async_dir):
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


def test_set_alias_through_symlinked_async_dir(tmp_path):
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
def test_set_alias_real_liveness_holder(async_dir, fake_wrapper):
    old = fake_wrapper.jid
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, old, RUNNING)
    os.symlink(old, os.path.join(async_dir, 'jid_x'))
    with pytest.raises(errors.JobError) as exc:
        changes.set_alias(async_dir, 'x', JID)
    assert exc.value.msg == held_msg('x', old, JID)
    assert link_of(async_dir) == old
    fake_wrapper.kill()
    result = changes.set_alias(async_dir, 'x', JID)
    assert result['previous_job_id'] == old
    assert link_of(async_dir) == JID


def test_set_alias_same_job_spelled_through_real_path(tmp_path):
    real = tmp_path / 'data' / 'async'
    real.mkdir(parents=True)
    link = tmp_path / '.ansible_async'
    link.symlink_to(real)
    write_job(str(real), JID, RUNNING)
    os.symlink(str(real / JID), str(real / 'jid_x'))
    assert changes.set_alias(str(link), 'x', JID, liveness=alive) == base(str(link))


# --- free_name -----------------------------------------------------------------------------------

def test_free_name(async_dir):
    job = write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, 'jid_build', JID)
    make_link(async_dir, 'jid_other', JID)
    changes.free_name(async_dir, 'build')
    assert sorted(os.listdir(async_dir)) == [JID, 'jid_other']
    assert os.path.exists(job)


def test_free_name_dangling(async_dir):
    make_link(async_dir, 'jid_build', JID)
    changes.free_name(async_dir, 'build')
    assert os.listdir(async_dir) == []


def test_free_name_absent_or_not_a_link(async_dir):
    changes.free_name(async_dir, 'build')
    write_job(async_dir, 'jid_build', 'a regular file is never removed')
    changes.free_name(async_dir, 'build')
    assert os.listdir(async_dir) == ['jid_build']


def test_free_name_legacy_form(async_dir):
    """The older form <jid>.jid_<alias> is a name of the job too: freed as well, or it
    would point the name at the old job again once the new job's name is released."""
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, JID + '.jid_build', JID)
    make_link(async_dir, JID + '.jid_other', JID)
    changes.free_name(async_dir, 'build')
    assert adir.find_alias(async_dir, 'build') == (None, None)
    assert sorted(os.listdir(async_dir)) == [JID, JID + '.jid_other']


# --- release -------------------------------------------------------------------------------------

def links_in(async_dir):
    return sorted(n for n in os.listdir(async_dir) if 'jid_' in n and not n.endswith('.lock'))


def test_release_by_alias(async_dir):
    job = write_job(async_dir, JID, SUCCEEDED)
    jl = make_link(async_dir, 'jid_build', JID)
    make_link(async_dir, 'jid_other', JID)
    assert changes.release(async_dir, JID, 'build') == [jl]
    assert links_in(async_dir) == ['jid_other']
    with open(job) as f:
        assert json.load(f) == SUCCEEDED


def test_release_by_legacy_alias(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    legacy = make_link(async_dir, JID + '.jid_build', JID)
    assert changes.release(async_dir, JID, 'build') == [legacy]
    assert links_in(async_dir) == []
    assert os.path.exists(os.path.join(async_dir, JID))


def test_release_by_alias_both_forms(async_dir):
    """Both forms of the name go, or the older one would name the collected job again."""
    write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, OTHER, SUCCEEDED)
    primary = make_link(async_dir, 'jid_build', JID)
    legacy = make_link(async_dir, JID + '.jid_build', JID)
    make_link(async_dir, OTHER + '.jid_build', OTHER)
    assert changes.release(async_dir, JID, 'build') == [primary, legacy]
    assert links_in(async_dir) == [OTHER + '.jid_build']


def test_release_by_alias_given_to_another_job(async_dir):
    """Another run named a new job meanwhile: the name is left alone."""
    write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, OTHER, RUNNING)
    make_link(async_dir, 'jid_build', OTHER)
    before = snapshot(async_dir)
    assert changes.release(async_dir, JID, 'build') == []
    after = snapshot(async_dir)
    after.pop('.jid_build.lock')  # the name's lock was taken
    assert after == before


@pytest.mark.parametrize('setup', ['nothing', 'dangling_to_other'])
def test_release_by_alias_absent(async_dir, setup):
    write_job(async_dir, JID, SUCCEEDED)
    if setup == 'dangling_to_other':
        make_link(async_dir, 'jid_build', OTHER)
    assert changes.release(async_dir, JID, 'build') == []
    assert os.path.exists(os.path.join(async_dir, JID))
    assert (os.path.islink(os.path.join(async_dir, 'jid_build'))
            == (setup == 'dangling_to_other'))


def test_release_by_alias_takes_the_lock(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, 'jid_build', JID)
    changes.release(async_dir, JID, 'build')
    assert os.path.isfile(os.path.join(async_dir, '.jid_build.lock'))


def test_release_by_jid_every_name(async_dir):
    job = write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, OTHER, SUCCEEDED)
    expected = sorted([
        make_link(async_dir, 'jid_a', JID),
        make_link(async_dir, 'jid_b', os.path.join(async_dir, JID)),
        make_link(async_dir, JID + '.jid_c', JID),
    ])
    make_link(async_dir, 'jid_d', OTHER)
    make_link(async_dir, OTHER + '.jid_e', OTHER)
    assert changes.release(async_dir, JID) == expected
    assert links_in(async_dir) == [OTHER + '.jid_e', 'jid_d']
    with open(job) as f:
        assert json.load(f) == SUCCEEDED
    assert not any(n.endswith('.lock') for n in os.listdir(async_dir))  # no lock by jid


def test_release_by_jid_without_names(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    before = snapshot(async_dir)
    assert changes.release(async_dir, JID) == []
    assert snapshot(async_dir) == before


def test_release_by_jid_missing_async_dir(tmp_path):
    assert changes.release(str(tmp_path / 'nowhere'), JID) == []


def test_release_never_touches_files_outside(async_dir, outside):
    """A name in the async dir pointing at a same-named file elsewhere is not the job's."""
    write_job(async_dir, JID, SUCCEEDED)
    elsewhere = write_job(outside, JID, SUCCEEDED)
    make_link(async_dir, 'jid_far', elsewhere)
    mine = make_link(async_dir, 'jid_mine', JID)
    assert changes.release(async_dir, JID) == [mine]
    assert os.path.islink(os.path.join(async_dir, 'jid_far'))
    assert os.path.exists(elsewhere)


# --- cleanup -------------------------------------------------------------------------------------

@pytest.fixture
def tree(async_dir, outside):
    """A populated async dir: the job (JID) with its .tmp and names in every form, another
    job with its own names, unrelated entries, and a file outside that must survive."""
    job = write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, JID + '.tmp', '{"partial')
    write_job(async_dir, OTHER, dict(SUCCEEDED, ansible_job_id=OTHER))
    write_job(async_dir, 'jid_regular_file', '{}')
    links = {
        'jid_x': JID,                           # the name looked up
        'jid_abs': job,                         # absolute form
        JID + '.jid_legacy': JID,               # legacy form
        JID + '.jid_legacy_abs': job,           # legacy, absolute
        'jid_other': OTHER,                     # another job's name
        OTHER + '.jid_other_legacy': OTHER,
        'unrelated_link': JID,                  # not an alias name: never touched
        'jid_out': os.path.join(outside, JID),  # outside, same basename as the job
    }
    for name, target in links.items():
        os.symlink(target, os.path.join(async_dir, name))
    write_job(outside, JID, SUCCEEDED)
    return job


JOB_NAMES = ['jid_x', 'jid_abs', JID + '.jid_legacy', JID + '.jid_legacy_abs']
FULL = sorted([JID, JID + '.tmp'] + JOB_NAMES)


def paths(async_dir, entries):
    return [os.path.join(async_dir, n) for n in entries]


def remaining(async_dir):
    return sorted(os.listdir(async_dir))


def summary(async_dir, state, alias=None, jid=JID, **extra):
    result = dict(started=1, finished=1, killed=False, pid_missing=False, state=state,
                  ansible_job_id=jid, results_file=os.path.join(async_dir, jid))
    if alias is not None:
        result['ansible_job_alias'] = alias
    result.update(extra)
    return result


# --- cleanup: mode=cleanup by jid, as native async_status ----------------------------------------

@pytest.mark.parametrize('check_mode', [False, True])
def test_cleanup_by_jid(async_dir, outside, tree, check_mode):
    everything = remaining(async_dir)
    result = changes.cleanup(async_dir, 'cleanup', jid=JID, check_mode=check_mode, liveness=never)
    assert result == dict(summary(async_dir, 'succeeded'), changed=True, erased=tree)
    assert isinstance(result['erased'], str)  # a path, as native async_status returns it
    if check_mode:
        assert remaining(async_dir) == everything
    else:
        # only the job file: its names now dangle, its .tmp stays (as native)
        assert remaining(async_dir) == sorted(set(everything) - {JID})
    assert os.path.exists(os.path.join(outside, JID))


@pytest.mark.parametrize('liveness', ['alive', 'unknown'])
def test_cleanup_by_jid_running_needs_no_force(async_dir, liveness):
    # native async_status removes a running job's file too; a jid is not a name
    path = write_job(async_dir, JID, RUNNING)
    result = changes.cleanup(async_dir, 'cleanup', jid=JID, liveness=LIVENESS[liveness])
    assert result['state'] == 'running'
    assert result['erased'] == path
    assert result['changed'] is True
    assert not os.path.exists(path)


def test_cleanup_by_jid_unknown(async_dir):
    with pytest.raises(errors.JobError) as exc:
        changes.cleanup(async_dir, 'cleanup', jid=JID, liveness=never)
    assert exc.value.msg == 'could not find job'
    # native async_status names the path it would have erased
    assert exc.value.result == {'ansible_job_id': JID, 'started': 1, 'finished': 1,
                                'erased': os.path.join(async_dir, JID)}


def test_full_cleanup_by_jid_unknown(async_dir):
    with pytest.raises(errors.JobError) as exc:
        changes.cleanup(async_dir, 'full_cleanup', jid=JID, liveness=never)
    assert exc.value.msg == 'could not find job'
    assert exc.value.result == {'ansible_job_id': JID, 'started': 1, 'finished': 1,
                                'results_file': os.path.join(async_dir, JID)}


def test_cleanup_result_has_only_summary_keys(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    result = changes.cleanup(async_dir, 'cleanup', jid=JID, liveness=never)
    assert set(result) == set(files.SUMMARY_KEYS) - {'ansible_job_alias'} | {'changed', 'erased'}
    assert 'stdout' not in result


# --- cleanup: mode=cleanup by alias, the name only -----------------------------------------------

@pytest.mark.parametrize('alias, link', [
    ('x', 'jid_x'),
    ('abs', 'jid_abs'),
    ('legacy', JID + '.jid_legacy'),
    ('legacy_abs', JID + '.jid_legacy_abs'),
])
@pytest.mark.parametrize('check_mode', [False, True])
def test_cleanup_by_alias(async_dir, outside, tree, alias, link, check_mode):
    everything = remaining(async_dir)
    result = changes.cleanup(async_dir, 'cleanup', alias=alias, check_mode=check_mode,
                             liveness=never)
    assert result == dict(summary(async_dir, 'succeeded', alias=alias), changed=True,
                          erased=paths(async_dir, [link]))
    expected = everything if check_mode else sorted(set(everything) - {link})
    assert remaining(async_dir) == expected
    assert os.path.exists(tree)  # the result stays
    assert os.path.exists(os.path.join(outside, JID))


@pytest.mark.parametrize('mode', ['cleanup', 'full_cleanup'])
@pytest.mark.parametrize('check_mode', [False, True])
def test_cleanup_absent_alias(async_dir, tree, mode, check_mode):
    everything = remaining(async_dir)
    result = changes.cleanup(async_dir, mode, alias='nope', check_mode=check_mode, liveness=never)
    assert result == dict(started=0, finished=0, killed=False, pid_missing=False,
                          state='absent', ansible_job_id=None, ansible_job_alias='nope',
                          results_file=None, changed=False, erased=[])
    assert remaining(async_dir) == everything


@pytest.mark.parametrize('check_mode', [False, True])
def test_cleanup_dangling_alias(async_dir, check_mode):
    link = os.path.join(async_dir, 'jid_x')
    os.symlink(JID, link)
    result = changes.cleanup(async_dir, 'cleanup', alias='x', check_mode=check_mode,
                             liveness=never)
    assert result['state'] == 'absent'
    assert result['ansible_job_id'] == JID
    assert result['erased'] == [link]
    assert result['changed'] is True
    assert os.path.lexists(link) is check_mode


# --- cleanup: mode=full_cleanup ------------------------------------------------------------------

@pytest.mark.parametrize('by', ['jid', 'alias', 'legacy_alias', 'abs_alias'])
@pytest.mark.parametrize('check_mode', [False, True])
def test_full_cleanup(async_dir, outside, tree, by, check_mode):
    everything = remaining(async_dir)
    outside_before = snapshot(outside)
    kwargs = {'jid': {'jid': JID}, 'alias': {'alias': 'x'}, 'legacy_alias': {'alias': 'legacy'},
              'abs_alias': {'alias': 'abs'}}[by]
    result = changes.cleanup(async_dir, 'full_cleanup', check_mode=check_mode, liveness=never,
                             **kwargs)
    assert result.pop('changed') is True
    erased = result.pop('erased')
    assert sorted(erased) == paths(async_dir, FULL)
    assert erased[:2] == paths(async_dir, [JID, JID + '.tmp'])  # the job file first
    assert result == summary(async_dir, 'succeeded', alias=kwargs.get('alias'))
    if check_mode:
        assert remaining(async_dir) == everything
    else:
        # the other job, its names, the unrelated link and the outside link all stay
        assert remaining(async_dir) == sorted(set(everything) - set(FULL))
        assert remaining(async_dir) == sorted([
            OTHER, 'jid_regular_file', 'jid_other', OTHER + '.jid_other_legacy',
            'unrelated_link', 'jid_out'])
    assert snapshot(outside) == outside_before


def test_full_cleanup_without_tmp_or_names(async_dir):
    path = write_job(async_dir, JID, SUCCEEDED)
    result = changes.cleanup(async_dir, 'full_cleanup', jid=JID, liveness=never)
    assert result['erased'] == [path]
    assert remaining(async_dir) == []


@pytest.mark.parametrize('check_mode', [False, True])
def test_full_cleanup_dangling_alias(async_dir, check_mode):
    # the job file is gone but its .tmp and names are left over
    write_job(async_dir, JID + '.tmp', '')
    for name in ('jid_x', 'jid_y', JID + '.jid_z'):
        os.symlink(JID, os.path.join(async_dir, name))
    result = changes.cleanup(async_dir, 'full_cleanup', alias='x', check_mode=check_mode,
                             liveness=never)
    assert result['state'] == 'absent'
    assert sorted(result['erased']) == paths(async_dir, sorted(
        [JID + '.tmp', 'jid_x', 'jid_y', JID + '.jid_z']))
    assert result['changed'] is True
    assert len(os.listdir(async_dir)) == (4 if check_mode else 0)


def test_full_cleanup_orphaned_needs_no_force(async_dir):
    write_job(async_dir, JID, RUNNING)
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))
    result = changes.cleanup(async_dir, 'full_cleanup', alias='x', liveness=dead)
    assert result['state'] == 'orphaned'
    assert result['pid_missing'] is True
    assert remaining(async_dir) == []


# --- cleanup: running jobs, refused without force ------------------------------------------------

@pytest.mark.parametrize('mode, kwargs, msg', [
    ('cleanup', {'alias': 'x'}, refusal('its alias', alias='x')),
    ('full_cleanup', {'alias': 'x'}, refusal('its job file and aliases', alias='x')),
    ('full_cleanup', {'jid': JID}, refusal('its job file and aliases')),
])
@pytest.mark.parametrize('liveness', ['alive', 'unknown'])
@pytest.mark.parametrize('check_mode', [False, True])
def test_cleanup_running_refused(async_dir, outside, mode, kwargs, msg, liveness, check_mode):
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, JID + '.tmp', '')
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))
    os.symlink(JID, os.path.join(async_dir, JID + '.jid_y'))
    before = snapshot(async_dir)
    with pytest.raises(errors.JobError) as exc:
        changes.cleanup(async_dir, mode, check_mode=check_mode, liveness=LIVENESS[liveness],
                        **kwargs)
    assert exc.value.msg == msg
    assert exc.value.result == summary(async_dir, 'running', alias=kwargs.get('alias'),
                                       finished=0)
    assert snapshot(async_dir) == before


@pytest.mark.parametrize('mode, kwargs, erased', [
    ('cleanup', {'alias': 'x'}, ['jid_x']),
    ('full_cleanup', {'alias': 'x'}, [JID, JID + '.tmp', JID + '.jid_y', 'jid_x']),
    ('full_cleanup', {'jid': JID}, [JID, JID + '.tmp', JID + '.jid_y', 'jid_x']),
])
@pytest.mark.parametrize('check_mode', [False, True])
def test_cleanup_running_forced(async_dir, mode, kwargs, erased, check_mode):
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, JID + '.tmp', '')
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))
    os.symlink(JID, os.path.join(async_dir, JID + '.jid_y'))
    everything = remaining(async_dir)
    result = changes.cleanup(async_dir, mode, force=True, check_mode=check_mode, liveness=alive,
                             **kwargs)
    assert result['state'] == 'running'
    assert result['changed'] is True
    assert result['erased'] == paths(async_dir, erased)
    expected = everything if check_mode else sorted(set(everything) - set(erased))
    assert remaining(async_dir) == expected


# --- cleanup: never anything outside the async dir -----------------------------------------------

@pytest.mark.parametrize('mode', ['cleanup', 'full_cleanup'])
@pytest.mark.parametrize('force', [False, True])
def test_cleanup_alias_pointing_outside(async_dir, outside, mode, force):
    target = write_job(outside, JID, SUCCEEDED)
    write_job(outside, JID + '.tmp', '')
    os.symlink(target, os.path.join(async_dir, 'jid_x'))
    root = os.path.dirname(async_dir)
    before = snapshot(root)
    with pytest.raises(errors.JobError) as exc:
        changes.cleanup(async_dir, mode, alias='x', force=force, liveness=never)
    assert 'points outside the async dir' in exc.value.msg
    assert snapshot(root) == before  # neither the link nor its target


def test_full_cleanup_by_jid_ignores_same_named_file_outside(async_dir, outside):
    write_job(async_dir, JID, SUCCEEDED)
    outside_job = write_job(outside, JID, SUCCEEDED)
    os.symlink(outside_job, os.path.join(async_dir, 'jid_out'))
    changes.cleanup(async_dir, 'full_cleanup', jid=JID, liveness=never)
    assert remaining(async_dir) == ['jid_out']
    assert os.path.exists(outside_job)


def test_cleanup_job_file_that_is_a_link_outside(async_dir, outside):
    # the job "file" is itself a link to outside: removing it removes the link, not the target
    target = write_job(outside, 'result', SUCCEEDED)
    os.symlink(target, os.path.join(async_dir, JID))
    result = changes.cleanup(async_dir, 'full_cleanup', jid=JID, liveness=never)
    assert result['erased'] == [os.path.join(async_dir, JID)]
    assert remaining(async_dir) == []
    assert os.path.exists(target)


# --- cleanup: async dir reached through a symlink ------------------------------------------------

@pytest.mark.parametrize('kwargs', [{'jid': JID}, {'alias': 'x'}])
def test_full_cleanup_through_symlinked_async_dir(tmp_path, kwargs):
    real = tmp_path / 'data' / 'async'
    real.mkdir(parents=True)
    link = tmp_path / '.ansible_async'
    link.symlink_to(real)
    write_job(str(real), JID, SUCCEEDED)
    write_job(str(real), JID + '.tmp', '')
    os.symlink(JID, str(real / 'jid_x'))
    os.symlink(str(link / JID), str(real / (JID + '.jid_y')))
    result = changes.cleanup(str(link), 'full_cleanup', liveness=never, **kwargs)
    assert sorted(result['erased']) == sorted(
        os.path.join(str(link), n) for n in (JID, JID + '.tmp', 'jid_x', JID + '.jid_y'))
    assert os.listdir(str(real)) == []
    assert link.is_symlink()  # the async dir link itself stays


# --- cleanup: real liveness ----------------------------------------------------------------------

@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='needs /proc')
def test_cleanup_real_liveness_refuses_then_allows(async_dir, fake_wrapper):
    jid = fake_wrapper.jid
    write_job(async_dir, jid, dict(RUNNING, ansible_job_id=jid))
    os.symlink(jid, os.path.join(async_dir, 'jid_x'))
    with pytest.raises(errors.JobError) as exc:
        changes.cleanup(async_dir, 'full_cleanup', alias='x')
    assert exc.value.msg == refusal('its job file and aliases', alias='x', jid=jid)
    assert remaining(async_dir) == sorted([jid, 'jid_x'])
    fake_wrapper.kill()
    result = changes.cleanup(async_dir, 'full_cleanup', alias='x')
    assert result['state'] == 'orphaned'
    assert remaining(async_dir) == []


def test_full_cleanup_name_spelled_through_real_path(tmp_path):
    real = tmp_path / 'data' / 'async'
    real.mkdir(parents=True)
    link = tmp_path / '.ansible_async'
    link.symlink_to(real)
    write_job(str(real), JID, SUCCEEDED)
    os.symlink(str(real / JID), str(real / 'jid_y'))
    changes.cleanup(str(link), 'full_cleanup', jid=JID, liveness=never)
    assert os.listdir(str(real)) == []


# --- cleanup_many --------------------------------------------------------------------------------

def test_cleanup_many(async_dir):
    write_job(async_dir, J1, DONE)
    write_job(async_dir, J2, DONE)
    os.symlink(J1, os.path.join(async_dir, 'jid_a'))
    results = changes.cleanup_many(async_dir, 'cleanup', [dict(alias='a'), dict(jid=J2)],
                                   liveness=never)
    assert [r['erased'] for r in results] == [[os.path.join(async_dir, 'jid_a')],
                                              os.path.join(async_dir, J2)]
    assert sorted(os.listdir(async_dir)) == [J1]


@pytest.mark.parametrize('refs,msg', [
    ([dict(jid=J1), dict(jid=J3)], 'jobs[1] (%s): could not find job' % J3),
    ([dict(jid=J1), dict(alias='r')], "jobs[1] (r): job %s (alias 'r') is still running; "
                                      'refusing to remove its job file and aliases, because a '
                                      're-run would then start a duplicate. Use force: true to '
                                      'remove it anyway.' % J2),
    ([dict(alias='r'), dict(jid=J2)], 'jobs[1] (%s) is the same job as jobs[0] (r): give each '
                                      'job once' % J2),
])
def test_cleanup_many_refused_changes_nothing(async_dir, refs, msg):
    write_job(async_dir, J1, DONE)
    write_job(async_dir, J2, RUNNING)
    os.symlink(J2, os.path.join(async_dir, 'jid_r'))
    before = snapshot(async_dir)
    with pytest.raises(errors.JobError) as exc:
        changes.cleanup_many(async_dir, 'full_cleanup', refs, liveness=alive)
    assert exc.value.msg == msg
    assert snapshot(async_dir) == before


def test_cleanup_many_check_mode(async_dir):
    write_job(async_dir, J1, DONE)
    before = snapshot(async_dir)
    results = changes.cleanup_many(async_dir, 'full_cleanup', [dict(jid=J1)], check_mode=True,
                                   liveness=never)
    assert results[0]['erased'] == [os.path.join(async_dir, J1)]
    assert snapshot(async_dir) == before


# --- the job's files of ours: its meta record and output log -------------------------------------

def with_log(async_dir, state=None, output='.output-tok.log'):
    """A job with its meta record naming ``output``, and that log (when it is a log's name)."""
    job = write_job(async_dir, JID, state or SUCCEEDED)
    changes.write_meta(async_dir, JID, 'build', 1000.0, output=output)
    make_link(async_dir, 'jid_build', JID)
    log = os.path.join(async_dir, '.output-tok.log')
    write_job(async_dir, '.output-tok.log', 'out: done\n')
    return job, os.path.join(async_dir, '.%s.meta' % JID), log


@pytest.mark.parametrize('alias', ['build', None])
def test_release_removes_the_output_log_and_keeps_the_meta(async_dir, alias):
    job, meta, log = with_log(async_dir)
    assert changes.release(async_dir, JID, alias) == [os.path.join(async_dir, 'jid_build')]
    assert remaining(async_dir) == sorted(['.jid_build.lock'] * (alias is not None)
                                          + [JID, os.path.basename(meta)])


def test_release_never_follows_a_meta_out_of_the_dir(async_dir, outside):
    target = os.path.join(outside, 'victim.log')
    write_job(outside, 'victim.log', 'keep')
    with_log(async_dir, output=target)
    changes.release(async_dir, JID)
    assert os.path.exists(target)
    assert os.path.exists(os.path.join(async_dir, '.output-tok.log'))  # not its log


@pytest.mark.parametrize('check_mode', [False, True])
def test_cleanup_by_jid_removes_the_job_files_of_ours(async_dir, check_mode):
    job, meta, log = with_log(async_dir)
    result = changes.cleanup(async_dir, 'cleanup', jid=JID, check_mode=check_mode,
                             liveness=never)
    assert result['erased'] == job  # native's shape: the job file's path
    expected = [JID, '.%s.meta' % JID, '.output-tok.log', 'jid_build'] if check_mode \
        else ['jid_build']
    assert remaining(async_dir) == sorted(expected)


def test_full_cleanup_removes_the_job_files_of_ours(async_dir):
    job, meta, log = with_log(async_dir)
    result = changes.cleanup(async_dir, 'full_cleanup', alias='build', liveness=never)
    assert sorted(result['erased']) == sorted(
        [job, meta, log, os.path.join(async_dir, 'jid_build')])
    assert remaining(async_dir) == []


@pytest.mark.parametrize('content', ['not json', '[1, 2]', '{"output": 5}', '{}'])
def test_job_sidecars_of_an_unreadable_meta(async_dir, content):
    write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, '.%s.meta' % JID, content)
    write_job(async_dir, '.output-tok.log', 'out: x\n')
    assert changes.job_sidecars(async_dir, JID) == [os.path.join(async_dir, '.%s.meta' % JID)]
    assert changes.job_output_log(async_dir, JID) is None
