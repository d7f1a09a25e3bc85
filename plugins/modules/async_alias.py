#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: async_alias
short_description: Give an async job a name
version_added: 0.1.0
description:
  - Names an Ansible async job, so that M(asyncjobs.named.async_status_id) and the other
    modules of this collection can find it by that name, for example after the controller
    that started it died.
  - The name is a symlink C(jid_<alias>) in the async dir pointing at the job's state
    file, created atomically (there is no moment when the name is missing or half-written).
    It is equivalent to an M(ansible.builtin.file) link from RV(results_file) to
    C(jid_<alias>), but safe.
  - A name held by a running job is never silently taken; a name held by a finished,
    killed or absent job is moved to the new job.
  - The async dir is found as M(ansible.builtin.async_status) finds it, for the remote and
    become user; give this task the same C(become) as the async task.
  - The job is given by exactly one of O(job) and O(jid).
options:
  alias:
    required: true
  job:
    description:
      - The async task's registered result, or the name of the variable it was registered as.
      - Exactly one of O(job) and O(jid) is required.
    type: raw
  force:
    description:
      - Take the name even when it is held by another job that is still running.
    type: bool
    default: false
seealso:
  - module: asyncjobs.named.async_status_id
extends_documentation_fragment:
  - asyncjobs.named.attributes
  - asyncjobs.named.job.alias
  - asyncjobs.named.job.jid
'''

EXAMPLES = r'''
- name: Start a job
  ansible.builtin.shell: ./migrate.sh
  async: 3600
  poll: 0
  register: async_task_obj

- name: Name it migrate (the design's short form)
  asyncjobs.named.async_alias: job=async_task_obj alias=migrate

- name: The same, with the result itself and a job id
  asyncjobs.named.async_alias:
    jid: '{{ async_task_obj.ansible_job_id }}'
    alias: migrate
'''

RETURN = r'''
ansible_job_id:
  description: The job id the name now points to.
  returned: always
  type: str
  sample: j360874038559.4169
ansible_job_alias:
  description: The name.
  returned: always
  type: str
  sample: migrate
results_file:
  description: The job's state file.
  returned: always
  type: str
  sample: /home/user/.ansible_async/j360874038559.4169
alias_file:
  description: The name's link.
  returned: always
  type: str
  sample: /home/user/.ansible_async/jid_migrate
previous_job_id:
  description: The job that held the name before (finished, killed, gone, or taken with O(force)).
  returned: when the name was moved from another job
  type: str
  sample: j98765432101.4242
'''

from ansible_collections.asyncjobs.named.plugins.module_utils._host.module import run_module
from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    require_async_dir)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import set_alias
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import ALIAS_SPEC


def run(params, check_mode):
    if not params['jid']:
        raise JobError('jid is required when the module runs without its action plugin '
                       '(the action turns job into jid)')
    return set_alias(require_async_dir(params), params['alias'], params['jid'],
                     force=params['force'], check_mode=check_mode)


def main():
    run_module(ALIAS_SPEC, run)


if __name__ == '__main__':
    main()
