# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_async_jobs.job_status, on real job files, with injected and with real liveness."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils import _async_changes as changes
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_files as files
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_names as names

from unit_helpers import (alive, dead, LIVENESS, never, Recorder, snapshot, unique_prefix,
                          unknown, UNKNOWN_WHY, write_job)

JID = 'j123456789012.4242'
SUCCEEDED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'rc': 0, 'stdout': 'Hello',
             'stderr': '', 'changed': True, 'cmd': 'echo Hello'}
FAILED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'rc': 2, 'failed': True,
          'msg': 'non-zero return code'}
TIMED_OUT = {'msg': 'Timeout exceeded', 'failed': True, 'child_pid': 1}
KILLED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'killed': True, 'failed': True,
          'msg': 'killed by async_kill'}


def as_bools(data):
    """ansible-core 2.19 writes started/finished as booleans."""
    return dict((k, bool(v) if k in ('started', 'finished') else v) for k, v in data.items())


RUNNING = {'started': 1, 'finished': 0, 'ansible_job_id': JID}
RUNNING_FORMS = pytest.mark.parametrize('running', [RUNNING, as_bools(RUNNING)],
                                        ids=['ints', 'bools'])


def orphan_msg(why, jid=JID):
    return ('job %s never finished: %s (killed, crashed or the host rebooted); its result is lost'
            % (jid, why))


def expected(async_dir, data, alias=None, jid=JID, **extra):
    result = dict(data)
    result.update(ansible_job_id=jid, results_file=os.path.join(async_dir, jid),
                  killed=False, pid_missing=False)
    if alias is not None:
        result['ansible_job_alias'] = alias
    result.update(extra)
    return result


# --- lookup: by jid ------------------------------------------------------------------------

def test_unknown_jid(async_dir):
    with pytest.raises(names.JobError) as exc:
        files.job_status(async_dir, jid=JID, liveness=never)
    assert exc.value.msg == 'could not find job'
    assert exc.value.result == {'ansible_job_id': JID, 'started': 1, 'finished': 1,
                                'results_file': os.path.join(async_dir, JID)}


def test_unknown_jid_missing_async_dir(tmp_path):
    with pytest.raises(names.JobError) as exc:
        files.job_status(str(tmp_path / 'nope'), jid=JID, liveness=never)
    assert exc.value.msg == 'could not find job'


# --- lookup: by alias ----------------------------------------------------------------------

def test_absent_alias(async_dir):
    assert files.job_status(async_dir, alias='x', liveness=never) == dict(
        started=0, finished=0, killed=False, pid_missing=False, state='absent',
        ansible_job_id=None, ansible_job_alias='x', results_file=None)


def test_absent_alias_missing_async_dir(tmp_path):
    assert files.job_status(str(tmp_path / 'nope'), alias='x', liveness=never)['state'] == 'absent'


@pytest.mark.parametrize('name', ['jid_x', JID + '.jid_x'], ids=['primary', 'legacy'])
def test_dangling_alias(async_dir, name):
    os.symlink(JID, os.path.join(async_dir, name))
    assert files.job_status(async_dir, alias='x', liveness=never) == dict(
        started=0, finished=0, killed=False, pid_missing=False, state='absent',
        ansible_job_id=JID, ansible_job_alias='x', results_file=os.path.join(async_dir, JID))


@pytest.mark.parametrize('form', ['relative', 'absolute', 'legacy', 'legacy_absolute'])
def test_alias_forms(async_dir, form):
    path = write_job(async_dir, JID, SUCCEEDED)
    name = {'relative': 'jid_x', 'absolute': 'jid_x', 'legacy': JID + '.jid_x',
            'legacy_absolute': JID + '.jid_x'}[form]
    os.symlink(path if 'absolute' in form else JID, os.path.join(async_dir, name))
    assert files.job_status(async_dir, alias='x', liveness=never) == expected(
        async_dir, SUCCEEDED, alias='x', started=1, finished=1, state='succeeded')


def test_alias_outside_async_dir(async_dir, outside):
    target = write_job(outside, JID, RUNNING)
    os.symlink(target, os.path.join(async_dir, 'jid_x'))
    before = snapshot(os.path.dirname(async_dir))
    with pytest.raises(names.JobError) as exc:
        files.job_status(async_dir, alias='x', liveness=never)
    assert exc.value.msg == ('alias %r points outside the async dir %s (to %s); refusing to use '
                             'it' % ('x', async_dir, target))
    assert snapshot(os.path.dirname(async_dir)) == before


@pytest.mark.parametrize('by', ['jid', 'alias'])
@pytest.mark.parametrize('link_form', ['relative', 'via_link', 'via_real'])
def test_async_dir_through_symlink(tmp_path, by, link_form):
    real = tmp_path / 'data' / 'async'
    real.mkdir(parents=True)
    link = tmp_path / '.ansible_async'
    link.symlink_to(real)
    write_job(str(real), JID, SUCCEEDED)
    target = {'relative': JID, 'via_link': str(link / JID), 'via_real': str(real / JID)}[link_form]
    os.symlink(target, str(real / 'jid_x'))
    kwargs = {'jid': JID} if by == 'jid' else {'alias': 'x'}
    result = files.job_status(str(link), liveness=never, **kwargs)
    assert result['state'] == 'succeeded'
    assert result['ansible_job_id'] == JID
    assert result['stdout'] == 'Hello'
    assert os.path.samefile(result['results_file'], str(real / JID))


def test_alias_jid_is_the_link_target_name(async_dir):
    write_job(async_dir, 'j9.9', SUCCEEDED)
    os.symlink('j9.9', os.path.join(async_dir, 'jid_x'))
    result = files.job_status(async_dir, alias='x', liveness=never)
    assert result['ansible_job_id'] == 'j9.9'  # not the one written inside the file
    assert result['results_file'] == os.path.join(async_dir, 'j9.9')


# --- finished jobs: no liveness check ------------------------------------------------------

@pytest.mark.parametrize('data, state, killed', [
    (SUCCEEDED, 'succeeded', False),
    (as_bools(SUCCEEDED), 'succeeded', False),
    (FAILED, 'failed', False),
    (as_bools(FAILED), 'failed', False),
    (TIMED_OUT, 'timed_out', False),
    (KILLED, 'killed', True),
    (as_bools(KILLED), 'killed', True),
    ({'rc': 0, 'stdout': 'x'}, 'succeeded', False),  # a module result without "started"
])
@pytest.mark.parametrize('by', ['jid', 'alias'])
def test_finished(async_dir, data, state, killed, by):
    write_job(async_dir, JID, data)
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))
    kwargs = {'jid': JID} if by == 'jid' else {'alias': 'x'}
    result = files.job_status(async_dir, liveness=never, **kwargs)
    assert result == expected(async_dir, data, alias=kwargs.get('alias'), started=1,
                              finished=1, state=state, killed=killed)
    # bools, not ints: ansible-core 2.21 warns about an int 'finished' in a module result
    assert all(result[k] is True for k in ('started', 'finished'))
    assert 'warnings' not in result


# --- unfinished jobs: liveness decides -----------------------------------------------------

@RUNNING_FORMS
@pytest.mark.parametrize('by', ['jid', 'alias'])
def test_running_alive(async_dir, running, by):
    write_job(async_dir, JID, running)
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))
    kwargs = {'jid': JID} if by == 'jid' else {'alias': 'x'}
    result = files.job_status(async_dir, liveness=alive, **kwargs)
    assert result == expected(async_dir, {}, alias=kwargs.get('alias'), started=1, finished=0,
                              state='running')
    assert 'warnings' not in result


@RUNNING_FORMS
def test_running_dead_is_orphaned(async_dir, running):
    write_job(async_dir, JID, running)
    result = files.job_status(async_dir, jid=JID, liveness=dead)
    assert result == expected(async_dir, {}, started=1, finished=1, failed=True,
                              pid_missing=True, state='orphaned',
                              msg=orphan_msg('its async_wrapper process is gone'))


@RUNNING_FORMS
def test_running_unknown_is_running_with_warning(async_dir, running):
    write_job(async_dir, JID, running)
    result = files.job_status(async_dir, jid=JID, liveness=unknown)
    assert result == expected(async_dir, {}, started=1, finished=0, state='running',
                              warnings=[UNKNOWN_WHY])


@pytest.mark.parametrize('raw, why', [
    ('', 'its job file is empty and its async_wrapper process is gone'),
    ('\n', 'its job file is empty and its async_wrapper process is gone'),
    ('{"started": 1, "fini',
     'its job file is not valid JSON and its async_wrapper process is gone'),
    ('[]', 'its job file is not valid JSON and its async_wrapper process is gone'),
])
@pytest.mark.parametrize('liveness', ['alive', 'dead', 'unknown'])
def test_empty_or_unparsable(async_dir, raw, why, liveness):
    write_job(async_dir, JID, raw)
    result = files.job_status(async_dir, jid=JID, liveness=LIVENESS[liveness])
    if liveness == 'dead':
        assert result == expected(async_dir, {}, started=1, finished=1, failed=True,
                                  pid_missing=True, state='orphaned', msg=orphan_msg(why))
    else:
        extra = {'warnings': [UNKNOWN_WHY]} if liveness == 'unknown' else {}
        assert result == expected(async_dir, {}, started=1, finished=0, state='running', **extra)


def test_liveness_called_with_jid_and_owner(async_dir):
    write_job(async_dir, JID, RUNNING)
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))
    rec = Recorder()
    files.job_status(async_dir, jid=JID, liveness=rec)
    files.job_status(async_dir, alias='x', liveness=rec)
    assert rec.calls == [(JID, os.getuid()), (JID, os.getuid())]


# --- races between the liveness scan and the re-read -----------------------------------------

@pytest.mark.parametrize('final, state', [
    (SUCCEEDED, 'succeeded'),
    (as_bools(SUCCEEDED), 'succeeded'),
    (FAILED, 'failed'),
    (TIMED_OUT, 'timed_out'),
])
@pytest.mark.parametrize('answer', [(False, [], None), (None, [], 'why')], ids=['dead', 'unknown'])
def test_job_finishing_during_scan_is_not_orphaned(async_dir, final, state, answer):
    path = write_job(async_dir, JID, RUNNING)

    def finishing(jid, owner_uid=None):
        # the wrapper writes its result and exits while we look for it
        changes.atomic_write_json(path, final)
        return answer

    result = files.job_status(async_dir, jid=JID, liveness=finishing)
    assert result['state'] == state
    assert result['finished'] == 1
    assert result['pid_missing'] is False
    assert 'warnings' not in result  # the liveness warning only matters while running


@pytest.mark.parametrize('by', ['jid', 'alias'])
def test_job_file_removed_during_scan(async_dir, by):
    path = write_job(async_dir, JID, RUNNING)
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))

    def removing(jid, owner_uid=None):
        os.unlink(path)  # a concurrent cleanup
        return False, [], None

    if by == 'jid':
        with pytest.raises(names.JobError) as exc:
            files.job_status(async_dir, jid=JID, liveness=removing)
        assert exc.value.msg == 'could not find job'
        assert exc.value.result == {'ansible_job_id': JID, 'started': 1, 'finished': 1,
                                'results_file': os.path.join(async_dir, JID)}
    else:
        assert files.job_status(async_dir, alias='x', liveness=removing) == dict(
            started=0, finished=0, killed=False, pid_missing=False, state='absent',
            ansible_job_id=JID, ansible_job_alias='x', results_file=path)


def test_job_file_written_during_scan_from_empty(async_dir):
    path = write_job(async_dir, JID, '')

    def starting(jid, owner_uid=None):
        changes.atomic_write_json(path, RUNNING)
        return True, [1], None

    result = files.job_status(async_dir, jid=JID, liveness=starting)
    assert result['state'] == 'running'
    assert result['ansible_job_id'] == JID


# --- real liveness, real process -----------------------------------------------------------

@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='needs /proc')
@pytest.mark.parametrize('by', ['jid', 'alias'])
def test_real_liveness(async_dir, fake_wrapper, by):
    write_job(async_dir, fake_wrapper.jid, dict(RUNNING, ansible_job_id=fake_wrapper.jid))
    os.symlink(fake_wrapper.jid, os.path.join(async_dir, 'jid_x'))
    kwargs = {'jid': fake_wrapper.jid} if by == 'jid' else {'alias': 'x'}
    running = files.job_status(async_dir, **kwargs)
    assert running['state'] == 'running'
    assert running['finished'] == 0
    assert 'warnings' not in running
    fake_wrapper.kill()
    gone = files.job_status(async_dir, **kwargs)
    assert gone['state'] == 'orphaned'
    assert gone['pid_missing'] is True
    assert gone['failed'] is True
    assert gone['msg'] == orphan_msg('its async_wrapper process is gone', jid=fake_wrapper.jid)


@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='needs /proc')
def test_real_liveness_never_started(async_dir):
    jid = unique_prefix() + '.1'
    write_job(async_dir, jid, dict(RUNNING, ansible_job_id=jid))
    assert files.job_status(async_dir, jid=jid)['state'] == 'orphaned'
