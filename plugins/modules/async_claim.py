#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: async_claim
short_description: Internal - the claim steps of async_task's start; do not use in playbooks
version_added: 0.1.0
description:
  - Internal to the collection, documented for its maintainers. Only the action plugin of
    M(asyncjobs.named.async_task) calls it; playbooks use M(asyncjobs.named.async_task).
  - With O(mode=prepare) it decides, under an exclusive lock on the name, whether to attach
    to the job found under O(alias) or to start a new one; in the second case it claims
    the name with O(token). With O(mode=bind) it names the job just started and drops the
    claim. These are the steps of a start where the one-step start (which needs none of
    this module) is not possible, and O(mode=prepare) is async_task's check mode.
  - A claim of a start in several steps whose owner died before starting its job is taken
    over after 60 seconds. A job whose processes carry the claim token in their
    environment (C(ASYNCJOBS_NAMED_CLAIM)), or whose job id the claim recorded before it
    started (O(jid) with O(mode=prepare)), is named and attached to at once, even when its
    starter died before naming it. A claim of a one-step start (which holds the name's lock
    for the claim's whole life) found under the lock is its dead owner's - its job is found
    by the job id prefix that the claim records.
options:
  alias:
    description: The job's name.
    type: str
    required: true
  token:
    description: The claim token of this run.
    type: str
    required: true
  mode:
    description:
      - V(prepare), V(bind), or V(abandon) (give up this run's claim - drop it when its job
        could not be started; with O(jid), when the job was started but could not be
        named, record the job in the claim, so that the next run names it and attaches to
        it at once).
    type: str
    choices: [prepare, bind, abandon]
    default: prepare
  waiting:
    description:
      - With O(mode=prepare), whether the caller will wait for the job (then a finished,
        uncollected job's outcome is attached to instead of starting a new job).
    type: bool
    default: false
  jid:
    description:
      - With O(mode=bind) or O(mode=abandon), the job id of the job just started.
      - With O(mode=prepare), the job id that the job to be started will have (under Mitogen
        for Ansible, whose job ids the controller chooses), recorded in the claim, so that
        a run whose controller died before naming the job finds it by its job file, running
        or finished.
    type: str
  what:
    description: With O(mode=bind), what the job runs (recorded for M(asyncjobs.named.async_jobs_info)).
    type: str
  output:
    description: With O(mode=bind), the name of the job's output log in the async dir.
    type: str
  hold:
    description:
      - With O(mode=prepare), seconds to wait on the host for another run's fresh claim to
        resolve.
    type: float
    default: 0
  on_running:
    description:
      - With O(mode=prepare), the job policy for a running job, as O(asyncjobs.named.async_task#module:on_running)
        - V(restart) kills it here, under the name's lock, before claiming the name.
    type: str
    choices: [attach, fail, restart]
    default: attach
  on_finished:
    description:
      - With O(mode=prepare), the job policy for a finished job, as O(asyncjobs.named.async_task#module:on_finished).
    type: str
    choices: [return, restart, restart_failed]
extends_documentation_fragment:
  - asyncjobs.named.attributes.run_by_async_task
  - asyncjobs.named.attributes
'''

EXAMPLES = r'''
# Internal: see asyncjobs.named.async_task.
- name: Claim the name migrate
  asyncjobs.named.async_claim:
    alias: migrate
    token: 0a1b2c3d
'''

RETURN = r'''
action:
  description:
    - With O(mode=prepare), V(attach), V(start), V(claimed) (another run holds a fresh claim) or
      V(refused) (O(on_running=fail) and the name's job runs, or another run is starting it).
  returned: when O(mode=prepare)
  type: str
  sample: start
status:
  description: With O(mode=prepare), the status of the job found under the name.
  returned: when O(mode=prepare)
  type: dict
  sample: {state: absent}
recovered_claim:
  description: True when the job was found by the claim of a run that died before naming it.
  returned: when such a job was attached to
  type: bool
  sample: true
claim_age:
  description: With V(claimed), the age of the other run's claim in seconds.
  returned: when O(mode=prepare) and another run holds a fresh claim
  type: float
  sample: 1.5
replaced:
  description:
    - With O(mode=prepare) and O(on_running=restart), the running job that was killed before
      the name was claimed - its RV(replaced.ansible_job_id), RV(replaced.state) and
      RV(replaced.pids).
  returned: when a running job was killed for a restart
  type: dict
  sample: {ansible_job_id: j360874038559.4169, state: killed, pids: [4242]}
  contains:
    ansible_job_id:
      description: The killed job's id.
      returned: always
      type: str
    state:
      description: Its state afterwards.
      returned: always
      type: str
    pids:
      description: The processes that were signalled.
      returned: always
      type: list
      elements: int
msg:
  description: With V(refused), why nothing was started.
  returned: when RV(action=refused)
  type: str
  sample: "job j360874038559.4169 named 'migrate' is running and on_running=fail: nothing was started"
ansible_job_id:
  description: The job attached to or bound.
  returned: when attaching or binding
  type: str
  sample: j360874038559.4169
bound:
  description: With O(mode=bind), whether the name now points to O(jid).
  returned: when O(mode=bind)
  type: bool
  sample: true
ansible_job_alias:
  description: With O(mode=bind), the name.
  returned: when O(mode=bind)
  type: str
  sample: migrate
alias_file:
  description: With O(mode=bind), the name's link.
  returned: when O(mode=bind) and the name was bound
  type: str
  sample: /home/user/.ansible_async/jid_migrate
abandoned:
  description: With O(mode=abandon), whether this run's claim was given up (false when it was not this run's any more).
  returned: when O(mode=abandon)
  type: bool
  sample: true
recorded:
  description: With O(mode=abandon) and O(jid), the job id recorded in the claim for the next run.
  returned: when O(mode=abandon) recorded a job
  type: str
  sample: j360874038559.4169
'''

from ansible_collections.asyncjobs.named.plugins.module_utils._host.module import run_module
from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    require_async_dir)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._host.claims import (
    abandon, bind, prepare)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import CLAIM_SPEC


def run(params, check_mode):
    async_dir, alias, token = require_async_dir(params), params['alias'], params['token']
    if params['mode'] == 'abandon':
        result = abandon(async_dir, alias, token, jid=params['jid'])
        result['changed'] = result['abandoned']
        return result
    if params['mode'] == 'bind':
        if not params['jid']:
            raise JobError('mode=bind needs jid')
        result = bind(async_dir, alias, token, params['jid'], what=params['what'],
                      output=params['output'])
        result['changed'] = result['bound']
        return result
    result = prepare(async_dir, alias, token, params['waiting'], check_mode=check_mode,
                     hold=params['hold'], expected_jid=params['jid'],
                     on_running=params['on_running'], on_finished=params['on_finished'])
    result['changed'] = result['action'] == 'start' and not check_mode
    return result


def main():
    run_module(CLAIM_SPEC, run)


if __name__ == '__main__':
    main()
