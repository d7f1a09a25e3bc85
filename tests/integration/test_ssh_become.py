# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named jobs over real SSH (login user ajssh) with become to the unprivileged user ajjob.

The design's flow (find by alias, start, async_alias, wait by alias, cleanup) must keep
the job in the *become* user's async dir, find it there again by name, and not be
visible to the login user, who has another home. Checked on disk from this process.
"""

import json
import os
import shutil
import uuid

import pytest

from _core import no_job_id


def _flag(ansible_version, value):
    """started/finished as async_status returns them: bool from 2.19, int before."""
    return bool(value) if ansible_version >= (2, 19) else int(value)


def _assert_flag(ansible_version, actual, expected):
    want = _flag(ansible_version, expected)
    assert actual == want and type(actual) is type(want), (actual, want)


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def _read_json(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.parametrize('dir_kind', ['default', 'explicit', 'tilde'])
def test_named_job_flow_ssh_become(run_playbook, ssh_target, test_dirs, ansible_version, dir_kind):
    job_user, login_user = ssh_target.job_user, ssh_target.login_user
    alias = 'it-ssh-become-%s' % uuid.uuid4().hex[:12]
    counter = test_dirs.root / 'counter'
    release = test_dirs.root / 'release'
    evars = {'job_alias': alias, 'counter_file': str(counter), 'release_file': str(release)}
    if dir_kind == 'default':
        evars['ansible_async_dir'] = None           # the become user's ~/.ansible_async
        job_dir = ssh_target.default_async_dir(job_user)
    elif dir_kind == 'tilde':
        # ansible_async_dir relative to the home: the become user's, not the login user's
        name = '.ansible_async_it_%s' % uuid.uuid4().hex[:8]
        evars['ansible_async_dir'] = '~/' + name
        job_dir = os.path.join(ssh_target.home(job_user), name)
    else:
        job_dir = str(test_dirs.async_dir)           # ansible_async_dir, an absolute path
    link = os.path.join(job_dir, 'jid_' + alias)
    job_file = None
    try:
        # --- run 1: start and name the job, look it up while it runs -------------------
        r1 = run_playbook('ssh_named_job.yml', inventory='ssh',
                          extra_vars=dict(evars, run=1, stop_before_wait=True))
        d1 = r1.load('part1_1')
        found, job, alias_res = d1['found'], d1['job'], d1['alias']
        status, other_alias, other_jid = d1['status'], d1['other_alias'], d1['other_jid']
        assert 'part2_1' not in r1.dumps()          # the play ended before waiting

        assert found['state'] == 'absent'
        _assert_flag(ansible_version, found['started'], False)
        _assert_flag(ansible_version, found['finished'], False)
        assert no_job_id(found)
        assert found['results_file'] is None
        assert found['ansible_job_alias'] == alias

        jid = job['ansible_job_id']
        job_file = os.path.join(job_dir, jid)
        assert job['results_file'] == job_file

        assert alias_res['changed'] is True
        assert alias_res['ansible_job_id'] == jid
        assert alias_res['ansible_job_alias'] == alias
        assert alias_res['results_file'] == job_file
        assert alias_res['alias_file'] == link
        assert 'previous_job_id' not in alias_res

        assert status['state'] == 'running'
        _assert_flag(ansible_version, status['started'], True)
        _assert_flag(ansible_version, status['finished'], False)
        assert status['ansible_job_id'] == jid
        assert status['ansible_job_alias'] == alias
        assert status['results_file'] == job_file
        assert status['killed'] is False and status['pid_missing'] is False
        assert status['stdout'] == '' and status['stdout_lines'] == []
        assert 'failed' not in status or status['failed'] is False

        # on disk, as root: the job file and its name are the job user's, in job_dir
        uid = ssh_target.uid(job_user)
        assert os.stat(job_file).st_uid == uid
        assert os.lstat(link).st_uid == uid
        assert os.path.islink(link)
        assert os.readlink(link) == jid
        started = _read_json(job_file)
        assert started['ansible_job_id'] == jid
        _assert_flag(ansible_version, started['started'], True)
        _assert_flag(ansible_version, started['finished'], False)
        assert _lines(counter) == ['run']

        login_dir = os.path.join(ssh_target.home(login_user), os.path.basename(job_dir))
        if dir_kind in ('default', 'tilde'):
            assert os.path.dirname(job_dir) == ssh_target.home(job_user)
            assert not os.path.lexists(os.path.join(login_dir, 'jid_' + alias))
            assert not os.path.lexists(os.path.join(login_dir, jid))
            # the login user looks in his own home: no such name, no such job
            assert other_alias['state'] == 'absent'
            _assert_flag(ansible_version, other_alias['started'], False)
            assert no_job_id(other_alias)
            assert other_alias['ansible_job_alias'] == alias
            assert other_alias.get('failed', False) is False
            assert other_jid['failed'] is True
            assert other_jid['msg'] == 'could not find job'
            assert other_jid['ansible_job_id'] == jid
            _assert_flag(ansible_version, other_jid['started'], True)
            _assert_flag(ansible_version, other_jid['finished'], True)
        else:
            # an absolute ansible_async_dir is the same directory for every user: the
            # login user reads the job user's (world-readable) job there
            assert other_alias['state'] == 'running'
            assert other_alias['ansible_job_id'] == jid
            assert other_alias['results_file'] == job_file
            assert other_jid['state'] == 'running'
            assert other_jid.get('failed', False) is False
            assert other_jid['ansible_job_id'] == jid

        # --- run 2: the same flow finds the job by name, waits for it, forgets the name ---
        r2 = run_playbook('ssh_named_job.yml', inventory='ssh', extra_vars=dict(evars, run=2))
        d2, e2 = r2.load('part1_2'), r2.load('part2_2')
        found2, job2, alias2 = d2['found'], d2['job'], d2['alias']
        final, cleaned, after = e2['final'], e2['cleaned'], e2['after']

        # the lookup ran before the job was released: still running, same job
        assert found2['state'] == 'running'
        assert found2['ansible_job_id'] == jid
        assert found2['results_file'] == job_file
        assert job2['skipped'] is True and alias2['skipped'] is True

        assert final['state'] == 'succeeded'
        _assert_flag(ansible_version, final['finished'], True)
        assert final['ansible_job_id'] == jid
        assert final['ansible_job_alias'] == alias
        assert final['rc'] == 0
        assert final['stdout_lines'] == [job_user, 'Hello', 'done']
        assert _lines(counter) == ['run']          # started exactly once

        assert cleaned['changed'] is True
        assert cleaned['erased'] == [link]
        assert cleaned['ansible_job_id'] == jid
        assert after['state'] == 'absent'
        assert no_job_id(after)

        # cleanup by name removed the name only; the result stays in the job user's dir
        assert not os.path.lexists(link)
        result = _read_json(job_file)
        assert result['rc'] == 0 and 'started' not in result
        assert os.stat(job_file).st_uid == uid
    finally:
        release.touch()                              # never leave the job blocked
        if dir_kind == 'default':                    # the shared home dir: remove ours
            for path in (link, job_file):
                if path and os.path.lexists(path):
                    os.remove(path)
        elif dir_kind == 'tilde':
            shutil.rmtree(job_dir, ignore_errors=True)


def test_cleanup_and_full_cleanup_ssh_become(run_playbook, ssh_target, test_dirs, async_dir,
                                             ansible_version):
    release = test_dirs.root / 'release'
    r = run_playbook('ssh_cleanup.yml', inventory='ssh',
                     extra_vars={'release_file': str(release)})
    d = r.load('results')
    jid = d['job_a']['ansible_job_id']
    job_file = os.path.join(async_dir, jid)
    link1, link2 = os.path.join(async_dir, 'jid_a1'), os.path.join(async_dir, 'jid_a2')

    # a running job's name and files are never removed without force
    assert d['refuse_alias']['failed'] is True
    assert d['refuse_alias']['msg'] == (
        "job %s (alias 'a1') is still running; refusing to remove its alias, because a re-run "
        "would then start a duplicate. Use force: true to remove it anyway." % jid)
    assert d['refuse_alias']['state'] == 'running'
    assert d['refuse_full']['failed'] is True
    assert d['refuse_full']['msg'] == (
        'job %s is still running; refusing to remove its job file and aliases, because a '
        're-run would then start a duplicate. Use force: true to remove it anyway.' % jid)
    assert d['listing_running'] == sorted([jid, 'jid_a1', 'jid_a2'])

    assert d['done_a']['state'] == 'succeeded'
    assert d['done_a']['stdout'] == 'A'

    # check mode reports what full_cleanup would remove, and removes nothing (see below)
    assert d['check_full']['changed'] is True
    assert d['check_full']['erased'] == [job_file, link1, link2]

    # cleanup by name: only that name goes
    assert d['clean_a1']['changed'] is True
    assert d['clean_a1']['erased'] == [link1]
    assert d['clean_a1']['state'] == 'succeeded'
    assert d['after_a1']['state'] == 'absent'
    assert d['after_a2']['state'] == 'succeeded'
    assert d['after_a2']['ansible_job_id'] == jid

    # full_cleanup by the other name: the job file and every name pointing to it
    assert d['full_a2']['changed'] is True
    assert d['full_a2']['erased'] == [job_file, link2]
    assert d['gone_a']['failed'] is True
    assert d['gone_a']['msg'] == 'could not find job'
    assert d['full_again']['changed'] is False
    assert d['full_again']['erased'] == []
    assert d['full_again']['state'] == 'absent'

    # cleanup by jid is native async_status's: the job file, erased as a string
    jid_b = d['job_b']['ansible_job_id']
    assert d['done_b']['stdout'] == 'B'
    assert d['clean_b']['changed'] is True
    assert d['clean_b']['erased'] == os.path.join(async_dir, jid_b)
    _assert_flag(ansible_version, d['clean_b']['finished'], True)

    assert os.listdir(async_dir) == []
    assert os.stat(async_dir).st_uid == ssh_target.uid(ssh_target.job_user)
