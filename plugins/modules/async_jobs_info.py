#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: async_jobs_info
short_description: List the async jobs of a host, their names and claims
version_added: 0.1.0
description:
  - Lists the jobs in the async dir of the host (of the become user with C(become)), native
    async jobs and named ones alike, with their names, state, times, processes and what
    they run; every name (alias link) and what it points to; and the claims of starts
    under way.
  - Read-only, in check mode too. States follow the rules of
    M(asyncjobs.named.async_status_id), liveness included, from one scan of the process
    table for the whole listing.
  - The async dir is found as for M(asyncjobs.named.async_status_id).
options:
  alias:
    description:
      - Shell-style patterns (C(migrate-*)); only the jobs (and names and claims) with a
        name that matches one are listed. The names of a job are those pointing at it, and
        the one M(asyncjobs.named.async_task) started it under.
    type: list
    elements: str
  state:
    description: Only the jobs in these states.
    type: list
    elements: str
    choices: [running, succeeded, failed, timed_out, killed, orphaned]
  unnamed:
    description: Whether jobs with no name are listed.
    type: bool
    default: true
notes:
  - Where the times come from. RV(jobs[].start_time) - the moment
    M(asyncjobs.named.async_task) started the job (its record of the start), else the C(start)
    of the job's own result (command, shell and script jobs; the host's local time), else,
    while the job runs, the time its job file was written (async_wrapper writes it when
    the job starts, and not again until it ends). RV(jobs[].end_time) - the C(end) of the
    job's own result, else the time its job file was last written (when it ended, or
    was killed); unknown for an orphaned job.
seealso:
  - module: asyncjobs.named.async_status_id
  - module: asyncjobs.named.async_prune
extends_documentation_fragment:
  - asyncjobs.named.attributes
  - asyncjobs.named.job.tail_lines
attributes:
  check_mode:
    details: It never changes anything; check mode returns the same listing.
'''

EXAMPLES = r'''
- name: List the running named jobs
  asyncjobs.named.async_jobs_info:
    state: [running]
    unnamed: false
  register: listing

- name: Show them
  ansible.builtin.debug:
    msg: "{{ item.aliases | join(',') }} ({{ item.ansible_job_id }}): running for {{ item.duration }} s, {{ item.what }}"
  loop: "{{ listing.jobs }}"
  loop_control:
    label: "{{ item.ansible_job_id }}"

- name: The migration jobs of every state, with 20 lines of output for the running ones
  asyncjobs.named.async_jobs_info:
    alias: ['migrate-*']
    tail_lines: 20
'''

RETURN = r'''
jobs:
  description:
    - The jobs, sorted by start time, newest last (jobs whose start is not known first).
  returned: always
  type: list
  elements: dict
  contains:
    containment:
      description:
        - How a job that async_task started is contained (C(mechanism) - V(cgroup) or
          V(environ)) and, with a cgroup, what it used - C(cpu_seconds), C(memory_peak)
          (bytes), C(oom_kills) - as M(asyncjobs.named.async_status_id) returns them (see
          there; the figures recorded when it ended, once a status read recorded them).
      returned: for a job that async_task started in one step
      type: dict
      sample: {mechanism: cgroup, cpu_seconds: 12.5, memory_peak: 52428800, oom_kills: 0}
    ansible_job_id:
      description: The job id.
      type: str
      sample: j360874038559.4169
    aliases:
      description: Every name of the job (both link forms, and the one it was started under).
      type: list
      elements: str
      sample: [migrate]
    state:
      description: The job's state, as M(asyncjobs.named.async_status_id) gives it.
      type: str
      sample: running
    start_time:
      description: When the job started, ISO 8601 UTC; null when not known (see the notes).
      type: str
      sample: '2026-11-30T15:04:05Z'
    end_time:
      description: When the job ended, ISO 8601 UTC; null while it runs, or when not known.
      type: str
      sample: '2026-11-30T15:44:05Z'
    duration:
      description: Seconds from start to end; while it runs, so far; null when not known.
      type: float
      sample: 135.2
    pids:
      description: The job's async_wrapper processes while it runs; empty otherwise.
      type: list
      elements: int
      sample: [4242, 4243]
    what:
      description:
        - What the job runs - C(shell) or C(command), a colon and the command line, for the jobs
          of M(asyncjobs.named.async_task) also C(script) and C(module); null when not known.
        - "For a job that M(asyncjobs.named.async_task) started in a C(no_log) task, only the
          form - C(shell: (hidden: no_log)); nothing of its arguments is stored on the host.
          A native async job records nothing of C(no_log) - its own result is the only source,
          so run this module with C(no_log) where such jobs may be listed."
      type: str
      sample: 'shell: ./migrate.sh --all'
    rc:
      description: The job's return code, when it finished and its result has one.
      type: int
      sample: 0
    msg:
      description: The job's message, when it finished and has one.
      type: str
      sample: non-zero return code
    results_file:
      description: The job's file.
      type: str
      sample: /home/user/.ansible_async/j360874038559.4169
    size:
      description: The size of the job's file in bytes.
      type: int
      sample: 1421
    stdout_tail:
      description: The last lines of a running job's standard output, when async_task captures it.
      type: list
      elements: str
      sample: ['table 41 of 42 migrated']
    stderr_tail:
      description: The last lines of a running job's standard error, when async_task captures it.
      type: list
      elements: str
      sample: []
names:
  description: Every name in the async dir.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name.
      type: str
      sample: migrate
    link:
      description: The link's path.
      type: str
      sample: /home/user/.ansible_async/jid_migrate
    form:
      description: V(jid_<alias>) or the older V(<jid>.jid_<alias>).
      type: str
      sample: jid_<alias>
    job:
      description: The job id it points to; null when it points to something else.
      type: str
      sample: j360874038559.4169
    target:
      description: Where the link points (made absolute); null when it is not a link.
      type: str
      sample: /home/user/.ansible_async/j360874038559.4169
    dangling:
      description: True when no job file is there.
      type: bool
      sample: false
    outside:
      description: True when it points outside the async dir (never followed).
      type: bool
      sample: false
claims:
  description: The claims of starts by M(asyncjobs.named.async_task) that are under way, or whose run died.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name claimed.
      type: str
      sample: migrate
    path:
      description: The claim file.
      type: str
      sample: /home/user/.ansible_async/.jid_migrate.claim
    age:
      description: Seconds since the claim was written.
      type: float
      sample: 0.4
    jid_prefix:
      description: The job id prefix of the job being started (a one-step start); null otherwise.
      type: str
      sample: j360874038559
'''

from ansible_collections.asyncjobs.named.plugins.module_utils._host.module import run_module
from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    require_async_dir)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._host.listing import list_jobs
from ansible_collections.asyncjobs.named.plugins.module_utils._host.output import output_tails
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import JOBS_INFO_SPEC


def run(params, check_mode):
    if params['tail_lines'] < 0:
        raise JobError('tail_lines must be 0 or more, not %s' % params['tail_lines'])
    result = list_jobs(require_async_dir(params), patterns=params['alias'],
                       states=params['state'], unnamed=params['unnamed'],
                       tail_lines=params['tail_lines'], tails=output_tails)
    result['changed'] = False
    return result


def main():
    run_module(JOBS_INFO_SPEC, run)


if __name__ == '__main__':
    main()
