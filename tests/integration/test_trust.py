# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The trials of issue 18 fail safely (trust.yml), locally as root and over SSH with become
to the unprivileged ajjob:

* a no_log task's command is stored nowhere of ours and listed as hidden: async_jobs_info
  (in a task without no_log) shows ``shell: (hidden: no_log)`` and nothing of the secret;
* an async dir that another user (nobody) owns, mode 0777: refused with its owner, mode and
  the fix, and it stays empty;
* a link planted at ``.jid_<alias>.lock``: refused, and its target is never created.
"""

import json
import os
import pwd

import pytest

WHERE = [pytest.param('local', id='local'), pytest.param('ssh', id='ssh')]


@pytest.mark.matrix
@pytest.mark.wrapper_only('the async dir options (Mitogen writes where its runner says)')
@pytest.mark.parametrize('inventory', WHERE)
def test_the_trials_fail_safely(run_playbook, test_dirs, async_dir, inventory):
    job_user = 'ajjob' if inventory == 'ssh' else 'root'
    pw = pwd.getpwnam(job_user)
    # The test's async dir, as the job's user would have made it, with a planted link.
    os.mkdir(async_dir, 0o700)
    os.chown(async_dir, pw.pw_uid, pw.pw_gid)
    victim = test_dirs.root / 'victim'
    os.symlink(str(victim), os.path.join(async_dir, '.jid_planted.lock'))
    unsafe = test_dirs.root / 'shared'
    unsafe.mkdir()
    unsafe.chmod(0o777)
    os.chown(str(unsafe), pwd.getpwnam('nobody').pw_uid, -1)

    r = run_playbook('trust.yml', inventory=inventory, extra_vars={'become_job': inventory == 'ssh'})
    listing = r.load('listing')
    text = json.dumps(listing)
    assert 'hunter2secret' not in text and 'hunter2secret' not in r.stdout
    whats = dict((j['aliases'][0], j['what']) for j in listing['jobs'] if j['aliases'])
    assert whats['secret'] == whats['secret-running'] == 'shell: (hidden: no_log)', whats
    assert not any(j.get('stdout_tail') or j.get('stderr_tail') for j in listing['jobs'])
    metas = [n for n in os.listdir(async_dir) if n.endswith('.meta')]
    assert metas and not any('hunter2secret' in (open(os.path.join(async_dir, n)).read())
                             for n in metas)

    refused = run_playbook('trust.yml', inventory=inventory, args=('--tags', 'unsafe'),
                           extra_vars={'become_job': inventory == 'ssh',
                                       'ansible_async_dir': str(unsafe)}).load('unsafe')
    assert refused['failed'] is True
    assert refused['msg'].startswith('the async dir %s is not safe to write in: ' % unsafe)
    assert 'owner nobody' in refused['msg'] and 'mode 0777' in refused['msg']
    assert 'nothing was started' in refused['msg']
    assert os.listdir(str(unsafe)) == []

    planted = r.load('planted')
    assert planted['failed'] is True
    assert 'is a symbolic link' in planted['msg'] and 'its target is left alone' in planted['msg']
    assert not os.path.lexists(str(victim))
