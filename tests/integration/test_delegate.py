# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""delegate_to: async_task, async_wait and async_kill delegated from localhost to the SSH
host with become run the job there, as the become user, in that user's async dir."""

import os
import signal
import uuid

import yaml

from _core import no_job_id
from _async_task_lib import KILL_MSG, job_file, sleep_processes, wrapper_processes


def test_delegate_to_with_become(run_playbook, local_inventory, ssh_inventory, test_dirs,
                                 ssh_target):
    # One inventory with both hosts: the play runs on localhost, the tasks on sshhost.
    hosts = {}
    for path in (local_inventory, ssh_inventory):
        hosts.update(yaml.safe_load(path.read_text())['all']['hosts'])
    inventory = test_dirs.root / 'inventory-both.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': hosts}}))

    prefix = 'dg-%s' % uuid.uuid4().hex[:10]
    nap = str(uuid.uuid4().int % 10 ** 6)
    job_dir = ssh_target.default_async_dir(ssh_target.job_user)
    try:
        r = run_playbook('task_delegate.yml', inventory=str(inventory),
                         extra_vars={'prefix': prefix, 'nap': nap, 'ansible_async_dir': None})
        waited, long = r.load('waited'), r.load('long')
        assert waited['state'] == 'succeeded' and waited['attached'] is False
        # Run on the SSH host (over ssh), as the become user, in that user's async dir.
        assert waited['stdout'].splitlines() == [ssh_target.job_user,
                                                 'sudo_user=%s' % ssh_target.login_user]
        assert os.path.dirname(waited['results_file']) == job_dir
        assert os.stat(waited['results_file']).st_uid == ssh_target.uid(ssh_target.job_user)
        assert os.path.dirname(long['results_file']) == job_dir
        assert long['state'] == 'running'

        # localhost itself (root, no delegation) has no such name.
        local_view = r.load('local_view')
        assert local_view['state'] == 'absent' and no_job_id(local_view)

        short_wait = r.load('short_wait')
        assert short_wait['failed'] is True and short_wait['msg'] == 'Ran out of attempts.'
        assert short_wait['ansible_job_id'] == long['ansible_job_id']

        killed = r.load('killed')
        jid = long['ansible_job_id']
        assert killed['changed'] is True and killed['state'] == 'killed'
        assert killed['msg'] == KILL_MSG % (jid, 'SIGTERM')
        assert job_file(job_dir, jid)['killed'] is True
        assert not wrapper_processes(jid)
        assert not sleep_processes('300.' + nap)
    finally:
        for pid in sleep_processes('300.' + nap):
            os.kill(pid, signal.SIGKILL)
