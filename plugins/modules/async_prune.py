#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: async_prune
short_description: Remove old finished async jobs and the leftovers of the async dir
version_added: 0.1.0
description:
  - Garbage collection of the async dir of the host (of the become user with C(become)),
    which otherwise only grows - job files, names of jobs long gone, lock files of names
    used once (ansible issue 73206 reports hosts running out of inodes this way).
  - It removes the finished jobs that ended longer ago than O(older_than), in O(states)
    (all finished states by default), with a name that matches O(alias) when given, except
    the O(keep) newest of each name - each with every name pointing at it, its record of
    how M(asyncjobs.named.async_task) started it, its output log and its temp files.
  - Whatever their age, it also removes names whose job file is gone (or that point
    outside the async dir - the link is removed, never followed); lock files
    (C(.jid_<name>.lock)) of names that have no job, no claim and no name; claims whose run
    is gone, that are older than the claim timeout (60 s) and whose job is nowhere; records
    of jobs whose file is gone; and temp files of interrupted writes (native C(<jid>.tmp) and
    ours) and output logs (C(.output-<token>.log)) of no job, older than O(older_than) - a
    log that a process still has open is kept (without C(/proc), every such log is kept).
  - It never removes a running job or anything of it, anything of a claim still being
    started, a file that is neither ours nor native async's, a directory, or anything
    outside the async dir. Names are removed under their lock, while they still point
    where they did.
options:
  older_than:
    description:
      - How long ago a job must have ended to be removed; also the age of temp files to
        remove. A duration - C(30s), C(15m), C(12h), C(7d) - or a number of seconds.
      - Required - there is no default age.
    type: raw
    required: true
  states:
    description: The finished states of the jobs to remove.
    type: list
    elements: str
    choices: [succeeded, failed, timed_out, killed, orphaned]
    default: [succeeded, failed, timed_out, killed, orphaned]
  alias:
    description:
      - Shell-style patterns; only jobs (and names, locks and claims) with a matching name
        are removed. The names of a job are those pointing at it, and the one
        M(asyncjobs.named.async_task) started it under.
    type: list
    elements: str
  keep:
    description: Per name, the number of newest finished jobs to keep, whatever their age.
    type: int
    default: 0
seealso:
  - module: asyncjobs.named.async_jobs_info
  - module: asyncjobs.named.async_status_id
extends_documentation_fragment:
  - asyncjobs.named.attributes
attributes:
  check_mode:
    details: In check mode it reports in RV(removed) what it would remove and removes nothing.
'''

EXAMPLES = r'''
- name: Remove the jobs that ended more than a week ago, and the leftovers
  asyncjobs.named.async_prune:
    older_than: 7d

- name: Keep the last 3 backups of each name, remove older ones after a day
  asyncjobs.named.async_prune:
    older_than: 1d
    alias: ['backup-*']
    keep: 3

- name: What would go (check mode)
  asyncjobs.named.async_prune:
    older_than: 12h
  check_mode: true
  register: would
'''

RETURN = r'''
removed:
  description: The paths removed (in check mode, that would be), sorted.
  returned: always
  type: list
  elements: str
  sample: [/home/user/.ansible_async/.jid_migrate.lock, /home/user/.ansible_async/j360874038559.4169]
kept_running:
  description: How many running jobs it found (and kept).
  returned: always
  type: int
  sample: 1
'''

from ansible_collections.asyncjobs.named.plugins.module_utils._host.module import run_module
from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    require_async_dir)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.jobs_input import (
    parse_duration)

from ansible_collections.asyncjobs.named.plugins.module_utils._host.prune import prune
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import PRUNE_SPEC


def run(params, check_mode):
    older_than = parse_duration(params['older_than'])
    if params['keep'] < 0:
        raise JobError('keep must be 0 or more, not %s' % params['keep'])
    return prune(require_async_dir(params), older_than, states=params['states'],
                 patterns=params['alias'], keep=params['keep'], check_mode=check_mode)


def main():
    run_module(PRUNE_SPEC, run)


if __name__ == '__main__':
    main()
