#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: async_claim
short_description: Host side of async_task's exactly-once start (internal)
version_added: 0.1.0
description:
  - Used by the M(asyncjobs.named.async_task) action; playbooks use that instead.
  - With O(mode=start) (the one-step start) it does all of a start in one process on the
    host, under an exclusive lock on the name - decide whether to attach to the job found
    under O(alias) or to start a new one, claim the name, run the async_wrapper command
    line that the controller passes in the environment variable
    C(_ASYNCJOBS_NAMED_WRAPPER), name the job, drop the claim - and then reads (with
    O(waiting), waits up to O(wait) seconds for) the job's status.
  - With O(mode=prepare) it decides, under an exclusive lock on the name, whether to attach
    to the job found under O(alias) or to start a new one; in the second case it claims
    the name with O(token). With O(mode=bind) it names the job just started and drops the
    claim. These are the steps of a start where the one-step start is not possible.
  - A claim whose owner died before starting its job is taken over after 60 seconds. A job
    whose processes carry the claim token in their environment (C(ASYNCJOBS_NAMED_CLAIM))
    is named and attached to at once, even when its starter died before naming it.
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
      - V(start), V(prepare), V(bind), or V(abandon) (drop this run's claim when its job
        could not be started).
    type: str
    choices: [start, prepare, bind, abandon]
    default: prepare
  waiting:
    description:
      - With O(mode=prepare), whether the caller will wait for the job (then a finished,
        uncollected job's outcome is attached to instead of starting a new job).
    type: bool
    default: false
  jid:
    description: With O(mode=bind), the job id of the job just started.
    type: str
  hold:
    description:
      - With O(mode=prepare) or O(mode=start), seconds to wait on the host for another
        run's fresh claim to resolve.
    type: float
    default: 0
  wait:
    description:
      - With O(mode=start) and O(waiting), seconds to wait on the host for the job to end.
    type: float
    default: 0
  cleanup:
    description:
      - With O(mode=start) and O(waiting), free the job's name once it is done.
    type: bool
    default: true
  tmpdir:
    description:
      - With O(mode=start), the remote tmp dir that Ansible made for the job.
    type: str
  remove_tmp:
    description:
      - With O(mode=start), remove O(tmpdir) when no job is started.
    type: bool
    default: false
  chmod:
    description:
      - With O(mode=start), paths in O(tmpdir) (or O(tmpdir) itself) to C(chmod u+rwx)
        before the job starts, as Ansible's permission fix-up would.
    type: list
    elements: str
    default: []
author:
  - asyncjobs.named maintainers (@asyncjobs-named)
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
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
    - With O(mode=prepare) or O(mode=start), V(attach), V(start) or V(claimed) (another
      run holds a fresh claim).
    - With O(mode=start) also V(failed) (async_wrapper did not start the job).
  returned: when O(mode) is V(prepare) or V(start)
  type: str
  sample: start
status:
  description:
    - With O(mode=prepare), the status of the job found under the name.
    - With O(mode=start), the status of the job attached to or started, after the wait.
  returned: when O(mode) is V(prepare) or V(start)
  type: dict
  sample: {state: absent}
reply:
  description: With O(mode=start), what async_wrapper printed when it started the job.
  returned: when O(mode=start) started a job or failed to
  type: dict
  sample: {started: true, finished: false, ansible_job_id: j360874038559.4169}
tmpdir_removed:
  description: With O(mode=start), whether O(tmpdir) was removed.
  returned: when O(mode=start)
  type: bool
  sample: false
recovered_claim:
  description: True when the job was found by the claim of a run that died before naming it.
  returned: when such a job was attached to
  type: bool
  sample: true
claim_age:
  description: With V(claimed), the age of the other run's claim in seconds.
  returned: when O(mode) is V(prepare) or V(start) and another run holds a fresh claim
  type: float
  sample: 1.5
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
'''

import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.asyncjobs.named.plugins.module_utils._async_jobs import (
    PRIVATE_ARGUMENT_SPEC, JobError, require_async_dir, validate)
from ansible_collections.asyncjobs.named.plugins.module_utils._async_control import (
    WRAPPER_ENV, abandon, bind, prepare, start_named_job)


def run(params, check_mode):
    async_dir, alias, token = require_async_dir(params), params['alias'], params['token']
    validate(alias=alias, jid=params['jid'])
    if params['mode'] == 'abandon':
        result = abandon(async_dir, alias, token)
        result['changed'] = result['abandoned']
        return result
    if params['mode'] == 'start':
        return run_start(async_dir, alias, token, params, check_mode)
    if params['mode'] == 'bind':
        if not params['jid']:
            raise JobError('mode=bind needs jid')
        result = bind(async_dir, alias, token, params['jid'])
        result['changed'] = result['bound']
        return result
    deadline = time.time() + max(0.0, params['hold'])
    while True:
        result = prepare(async_dir, alias, token, params['waiting'], check_mode=check_mode)
        if result['action'] != 'claimed' or time.time() >= deadline:
            break
        time.sleep(0.2)
    result['changed'] = result['action'] == 'start' and not check_mode
    return result


def run_start(async_dir, alias, token, params, check_mode):
    if check_mode:
        raise JobError('mode=start does not run in check mode')
    env = dict(os.environ)
    wrapper_cmd = env.pop(WRAPPER_ENV, None)
    if not wrapper_cmd:
        raise JobError('mode=start needs the async_wrapper command line in %s' % WRAPPER_ENV)
    result = start_named_job(
        async_dir, alias, token, params['waiting'], wrapper_cmd, wait=params['wait'],
        cleanup=params['cleanup'], tmpdir=params['tmpdir'], remove_tmp=params['remove_tmp'],
        chmod=params['chmod'], env=env, hold=params['hold'])
    result['changed'] = result['action'] == 'start'
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            alias=dict(type='str', required=True),
            token=dict(type='str', required=True, no_log=False),
            mode=dict(type='str', default='prepare',
                      choices=['start', 'prepare', 'bind', 'abandon']),
            waiting=dict(type='bool', default=False),
            jid=dict(type='str'),
            hold=dict(type='float', default=0.0),
            wait=dict(type='float', default=0.0),
            cleanup=dict(type='bool', default=True),
            tmpdir=dict(type='str'),
            remove_tmp=dict(type='bool', default=False),
            chmod=dict(type='list', elements='str', default=[]),
            **PRIVATE_ARGUMENT_SPEC
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode)
    except JobError as e:
        module.fail_json(**dict(e.result, msg=e.msg))
    except Exception as e:  # pylint: disable=broad-except
        module.fail_json(msg='%s: %s' % (type(e).__name__, e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
