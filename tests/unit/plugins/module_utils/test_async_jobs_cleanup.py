# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_async_jobs.cleanup (modes cleanup and full_cleanup), on real async dirs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils import _async_changes as changes
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_files as files
from ansible_collections.asyncjobs.named.plugins.module_utils import _async_names as names

from unit_helpers import alive, dead, LIVENESS, never, snapshot, write_job

JID = 'j123456789012.4242'
OTHER = 'j999999999999.1'
RUNNING = {'started': 1, 'finished': 0, 'ansible_job_id': JID}
SUCCEEDED = {'started': 1, 'finished': 1, 'ansible_job_id': JID, 'rc': 0, 'stdout': 'Hello'}

REFUSAL = ('job %s%s is still running; refusing to remove %s, because a re-run would then '
           'start a duplicate. Use force: true to remove it anyway.')


def refusal(what, alias=None, jid=JID):
    return REFUSAL % (jid, (' (alias %r)' % alias) if alias is not None else '', what)


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


def paths(async_dir, names):
    return [os.path.join(async_dir, n) for n in names]


def remaining(async_dir):
    return sorted(os.listdir(async_dir))


def summary(async_dir, state, alias=None, jid=JID, **extra):
    result = dict(started=1, finished=1, killed=False, pid_missing=False, state=state,
                  ansible_job_id=jid, results_file=os.path.join(async_dir, jid))
    if alias is not None:
        result['ansible_job_alias'] = alias
    result.update(extra)
    return result


# --- mode=cleanup by jid: native async_status behaviour -------------------------------------

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
    with pytest.raises(names.JobError) as exc:
        changes.cleanup(async_dir, 'cleanup', jid=JID, liveness=never)
    assert exc.value.msg == 'could not find job'
    # native async_status names the path it would have erased
    assert exc.value.result == {'ansible_job_id': JID, 'started': 1, 'finished': 1,
                                'erased': os.path.join(async_dir, JID)}


def test_full_cleanup_by_jid_unknown(async_dir):
    with pytest.raises(names.JobError) as exc:
        changes.cleanup(async_dir, 'full_cleanup', jid=JID, liveness=never)
    assert exc.value.msg == 'could not find job'
    assert exc.value.result == {'ansible_job_id': JID, 'started': 1, 'finished': 1,
                                'results_file': os.path.join(async_dir, JID)}


def test_cleanup_result_has_only_summary_keys(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    result = changes.cleanup(async_dir, 'cleanup', jid=JID, liveness=never)
    assert set(result) == set(files.SUMMARY_KEYS) - {'ansible_job_alias'} | {'changed', 'erased'}
    assert 'stdout' not in result


# --- mode=cleanup by alias: the name only ----------------------------------------------------

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


# --- mode=full_cleanup -------------------------------------------------------------------------

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


# --- running jobs: refused without force ---------------------------------------------------

@pytest.mark.parametrize('mode, kwargs, msg', [
    ('cleanup', {'alias': 'x'}, refusal('its alias', alias='x')),
    ('full_cleanup', {'alias': 'x'}, refusal('its job file and aliases', alias='x')),
    ('full_cleanup', {'jid': JID}, refusal('its job file and aliases')),
])
@pytest.mark.parametrize('liveness', ['alive', 'unknown'])
@pytest.mark.parametrize('check_mode', [False, True])
def test_running_refused(async_dir, outside, mode, kwargs, msg, liveness, check_mode):
    write_job(async_dir, JID, RUNNING)
    write_job(async_dir, JID + '.tmp', '')
    os.symlink(JID, os.path.join(async_dir, 'jid_x'))
    os.symlink(JID, os.path.join(async_dir, JID + '.jid_y'))
    before = snapshot(async_dir)
    with pytest.raises(names.JobError) as exc:
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
def test_running_forced(async_dir, mode, kwargs, erased, check_mode):
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


# --- never anything outside the async dir -------------------------------------------------------

@pytest.mark.parametrize('mode', ['cleanup', 'full_cleanup'])
@pytest.mark.parametrize('force', [False, True])
def test_alias_pointing_outside(async_dir, outside, mode, force):
    target = write_job(outside, JID, SUCCEEDED)
    write_job(outside, JID + '.tmp', '')
    os.symlink(target, os.path.join(async_dir, 'jid_x'))
    root = os.path.dirname(async_dir)
    before = snapshot(root)
    with pytest.raises(names.JobError) as exc:
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


def test_job_file_that_is_a_link_outside(async_dir, outside):
    # the job "file" is itself a link to outside: removing it removes the link, not the target
    target = write_job(outside, 'result', SUCCEEDED)
    os.symlink(target, os.path.join(async_dir, JID))
    result = changes.cleanup(async_dir, 'full_cleanup', jid=JID, liveness=never)
    assert result['erased'] == [os.path.join(async_dir, JID)]
    assert remaining(async_dir) == []
    assert os.path.exists(target)


# --- async dir reached through a symlink ----------------------------------------------------------

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


# --- real liveness ------------------------------------------------------------------------------

@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='needs /proc')
def test_real_liveness_refuses_then_allows(async_dir, fake_wrapper):
    jid = fake_wrapper.jid
    write_job(async_dir, jid, dict(RUNNING, ansible_job_id=jid))
    os.symlink(jid, os.path.join(async_dir, 'jid_x'))
    with pytest.raises(names.JobError) as exc:
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
