# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/job_status.py: job files and job states.

Covers the states, JobFile, read_job, finished_state, describe, _absent, summary, _owner,
job_status (by jid and by name, with injected and with real liveness, and the races
between the liveness scan and the re-read of the file) and job_statuses, on real job
files in real async dirs.
"""

import json
import os

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    job_status as files, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import (
    errors, job_model as model)

from unit_helpers import (alive, dead, LIVENESS, never, Recorder, snapshot, unique_prefix, unknown,
                          UNKNOWN_WHY, unprivileged, write_job)


# Job files. The JobFile, read_job, finished_state and describe tests had their own
# (without ansible_job_id, another stdout or message); they never look at those keys.
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
J1, J2, J3 = 'j111.1', 'j222.2', 'j333.3'
DONE = {'rc': 0, 'stdout': 'done'}


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


def job_file(data=None, raw=None, path='/a/j1.2'):
    if raw is None and data is not None:
        raw = json.dumps(data)
    return files.JobFile(path, True, data, raw)


# --- states --------------------------------------------------------------------------------------

def test_states():
    assert model.STATES == ('absent', 'running', 'succeeded', 'failed', 'timed_out', 'killed',
                            'orphaned')
    assert set(model.FINISHED_STATES) == set(model.STATES) - {model.ABSENT, model.RUNNING}
    assert model.TIMEOUT_MSG == 'Timeout exceeded'


# --- JobFile.parsed / finished -------------------------------------------------------------------

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


# --- read_job ------------------------------------------------------------------------------------

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


def test_read_job_permission_denied_is_raised(world_readable_tmp):
    path = write_job(world_readable_tmp, 'j1.2', '{}')
    os.chmod(path, 0)
    with unprivileged():
        with pytest.raises(OSError):
            files.read_job(path)


# --- finished_state ------------------------------------------------------------------------------

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
    assert model.finished_state(data) == state
    assert state in model.FINISHED_STATES


# --- describe ------------------------------------------------------------------------------------

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
                          msg=orphan_msg(why, 'j1.2'))


# --- _absent, summary, _owner --------------------------------------------------------------------

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


# --- job_status: lookup by jid -------------------------------------------------------------------

def test_job_status_unknown_jid(async_dir):
    with pytest.raises(errors.JobError) as exc:
        files.job_status(async_dir, jid=JID, liveness=never)
    assert exc.value.msg == 'could not find job'
    assert exc.value.result == {'ansible_job_id': JID, 'started': 1, 'finished': 1,
                                'results_file': os.path.join(async_dir, JID)}


def test_job_status_unknown_jid_missing_async_dir(tmp_path):
    with pytest.raises(errors.JobError) as exc:
        files.job_status(str(tmp_path / 'nope'), jid=JID, liveness=never)
    assert exc.value.msg == 'could not find job'


# --- job_status: lookup by alias -----------------------------------------------------------------

def test_job_status_absent_alias(async_dir):
    assert files.job_status(async_dir, alias='x', liveness=never) == dict(
        started=0, finished=0, killed=False, pid_missing=False, state='absent',
        ansible_job_id=None, ansible_job_alias='x', results_file=None)


def test_job_status_absent_alias_missing_async_dir(tmp_path):
    assert files.job_status(str(tmp_path / 'nope'), alias='x', liveness=never)['state'] == 'absent'


@pytest.mark.parametrize('name', ['jid_x', JID + '.jid_x'], ids=['primary', 'legacy'])
def test_job_status_dangling_alias(async_dir, name):
    os.symlink(JID, os.path.join(async_dir, name))
    assert files.job_status(async_dir, alias='x', liveness=never) == dict(
        started=0, finished=0, killed=False, pid_missing=False, state='absent',
        ansible_job_id=JID, ansible_job_alias='x', results_file=os.path.join(async_dir, JID))


@pytest.mark.parametrize('form', ['relative', 'absolute', 'legacy', 'legacy_absolute'])
def test_job_status_alias_forms(async_dir, form):
    path = write_job(async_dir, JID, SUCCEEDED)
    name = {'relative': 'jid_x', 'absolute': 'jid_x', 'legacy': JID + '.jid_x',
            'legacy_absolute': JID + '.jid_x'}[form]
    os.symlink(path if 'absolute' in form else JID, os.path.join(async_dir, name))
    assert files.job_status(async_dir, alias='x', liveness=never) == expected(
        async_dir, SUCCEEDED, alias='x', started=1, finished=1, state='succeeded')


def test_job_status_alias_outside_async_dir(async_dir, outside):
    target = write_job(outside, JID, RUNNING)
    os.symlink(target, os.path.join(async_dir, 'jid_x'))
    before = snapshot(os.path.dirname(async_dir))
    with pytest.raises(errors.JobError) as exc:
        files.job_status(async_dir, alias='x', liveness=never)
    assert exc.value.msg == ('alias %r points outside the async dir %s (to %s); refusing to use '
                             'it' % ('x', async_dir, target))
    assert snapshot(os.path.dirname(async_dir)) == before


@pytest.mark.parametrize('by', ['jid', 'alias'])
@pytest.mark.parametrize('link_form', ['relative', 'via_link', 'via_real'])
def test_job_status_async_dir_through_symlink(tmp_path, by, link_form):
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


def test_job_status_alias_jid_is_the_link_target_name(async_dir):
    write_job(async_dir, 'j9.9', SUCCEEDED)
    os.symlink('j9.9', os.path.join(async_dir, 'jid_x'))
    result = files.job_status(async_dir, alias='x', liveness=never)
    assert result['ansible_job_id'] == 'j9.9'  # not the one written inside the file
    assert result['results_file'] == os.path.join(async_dir, 'j9.9')


# --- job_status: finished jobs, no liveness check ------------------------------------------------

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
def test_job_status_finished(async_dir, data, state, killed, by):
    write_job(async_dir, JID, data)
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))
    kwargs = {'jid': JID} if by == 'jid' else {'alias': 'x'}
    result = files.job_status(async_dir, liveness=never, **kwargs)
    assert result == expected(async_dir, data, alias=kwargs.get('alias'), started=1,
                              finished=1, state=state, killed=killed)
    # bools, not ints: ansible-core 2.21 warns about an int 'finished' in a module result
    assert all(result[k] is True for k in ('started', 'finished'))
    assert 'warnings' not in result


# --- job_status: unfinished jobs, liveness decides -----------------------------------------------

@RUNNING_FORMS
@pytest.mark.parametrize('by', ['jid', 'alias'])
def test_job_status_running_alive(async_dir, running, by):
    write_job(async_dir, JID, running)
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))
    kwargs = {'jid': JID} if by == 'jid' else {'alias': 'x'}
    result = files.job_status(async_dir, liveness=alive, **kwargs)
    assert result == expected(async_dir, {}, alias=kwargs.get('alias'), started=1, finished=0,
                              state='running')
    assert 'warnings' not in result


@RUNNING_FORMS
def test_job_status_running_dead_is_orphaned(async_dir, running):
    write_job(async_dir, JID, running)
    result = files.job_status(async_dir, jid=JID, liveness=dead)
    assert result == expected(async_dir, {}, started=1, finished=1, failed=True,
                              pid_missing=True, state='orphaned',
                              msg=orphan_msg('its async_wrapper process is gone'))


@RUNNING_FORMS
def test_job_status_running_unknown_is_running_with_warning(async_dir, running):
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
def test_job_status_empty_or_unparsable(async_dir, raw, why, liveness):
    write_job(async_dir, JID, raw)
    result = files.job_status(async_dir, jid=JID, liveness=LIVENESS[liveness])
    if liveness == 'dead':
        assert result == expected(async_dir, {}, started=1, finished=1, failed=True,
                                  pid_missing=True, state='orphaned', msg=orphan_msg(why))
    else:
        extra = {'warnings': [UNKNOWN_WHY]} if liveness == 'unknown' else {}
        assert result == expected(async_dir, {}, started=1, finished=0, state='running', **extra)


def test_job_status_liveness_called_with_jid_and_owner(async_dir):
    write_job(async_dir, JID, RUNNING)
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))
    rec = Recorder()
    files.job_status(async_dir, jid=JID, liveness=rec)
    files.job_status(async_dir, alias='x', liveness=rec)
    assert rec.calls == [(JID, os.getuid()), (JID, os.getuid())]


# --- job_status: races between the liveness scan and the re-read ---------------------------------

@pytest.mark.parametrize('final, state', [
    (SUCCEEDED, 'succeeded'),
    (as_bools(SUCCEEDED), 'succeeded'),
    (FAILED, 'failed'),
    (TIMED_OUT, 'timed_out'),
])
@pytest.mark.parametrize('answer', [(False, [], None), (None, [], 'why')], ids=['dead', 'unknown'])
def test_job_status_finishing_during_scan_is_not_orphaned(async_dir, final, state, answer):
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
def test_job_status_file_removed_during_scan(async_dir, by):
    path = write_job(async_dir, JID, RUNNING)
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))

    def removing(jid, owner_uid=None):
        os.unlink(path)  # a concurrent cleanup
        return False, [], None

    if by == 'jid':
        with pytest.raises(errors.JobError) as exc:
            files.job_status(async_dir, jid=JID, liveness=removing)
        assert exc.value.msg == 'could not find job'
        assert exc.value.result == {'ansible_job_id': JID, 'started': 1, 'finished': 1,
                                    'results_file': os.path.join(async_dir, JID)}
    else:
        assert files.job_status(async_dir, alias='x', liveness=removing) == dict(
            started=0, finished=0, killed=False, pid_missing=False, state='absent',
            ansible_job_id=JID, ansible_job_alias='x', results_file=path)


def test_job_status_file_written_during_scan_from_empty(async_dir):
    path = write_job(async_dir, JID, '')

    def writing(jid, owner_uid=None):
        changes.atomic_write_json(path, RUNNING)
        return True, [1], None

    result = files.job_status(async_dir, jid=JID, liveness=writing)
    assert result['state'] == 'running'
    assert result['ansible_job_id'] == JID


# --- job_status: real liveness, real process -----------------------------------------------------

@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='needs /proc')
@pytest.mark.parametrize('by', ['jid', 'alias'])
def test_job_status_real_liveness(async_dir, fake_wrapper, by):
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
def test_job_status_real_liveness_never_started(async_dir):
    jid = unique_prefix() + '.1'
    write_job(async_dir, jid, dict(RUNNING, ansible_job_id=jid))
    assert files.job_status(async_dir, jid=jid)['state'] == 'orphaned'


SJ1, SJ2, SJ3 = 'j111.1', 'j222.2', 'j333.3'
RUNNING_JOB = {'started': 1, 'finished': 0}
DONE_JOB = {'rc': 0, 'stdout': 'done'}


# --- job_statuses: several jobs, one scan --------------------------------------------------------

def test_job_statuses_one_scan_for_all(async_dir, tmp_path):
    for jid, data in ((SJ1, RUNNING_JOB), (SJ2, DONE_JOB), (SJ3, RUNNING_JOB)):
        write_job(async_dir, jid, dict(data, ansible_job_id=jid) if data is RUNNING_JOB else data)
    os.symlink(SJ1, os.path.join(async_dir, 'jid_build'))
    scans = []

    def liveness_for(jids):
        scans.append(sorted(jids))
        return lambda jid, owner_uid=None: (jid == SJ1, [1] if jid == SJ1 else [], None)

    refs = [dict(alias='build'), dict(jid=SJ2), dict(jid=SJ3), dict(alias='gone')]
    statuses = files.job_statuses(async_dir, refs, liveness_for=liveness_for)
    assert scans == [sorted([SJ1, SJ2, SJ3])]
    assert [s['state'] for s in statuses] == ['running', 'succeeded', 'orphaned', 'absent']
    assert [s.get('ansible_job_alias') for s in statuses] == ['build', None, None, 'gone']


def test_job_statuses_names_the_entry(async_dir):
    write_job(async_dir, SJ1, DONE_JOB)
    with pytest.raises(errors.JobError) as exc:
        files.job_statuses(async_dir, [dict(jid=SJ1), dict(jid=SJ2, alias='x')],
                           liveness_for=lambda jids: never)
    assert exc.value.msg == 'jobs[1] (x, %s): could not find job' % SJ2
    assert exc.value.result['ansible_job_id'] == SJ2
