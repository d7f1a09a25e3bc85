#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: async_wait
short_description: Wait for an async job, by name or job id, on the host
version_added: 0.1.0
description:
  - Waits until an async job is succeeded, failed, timed_out, killed or orphaned and
    returns its result, failing when the job failed.
  - The waiting happens on the host. Each module run watches the job file several times a
    second and returns as soon as the job is done, or after a slice (15 seconds for the
    first, then as long as the job has run, up to a minute); the action plugin runs
    slices until the budget is spent. The end of a job is seen within half a second, and
    a long wait costs one round trip per slice.
  - Progress - at least every 15 seconds while a job still runs (after each slice, and
    from the controller during a longer slice, with the output line of the last slice),
    one line at the default verbosity, as native retries print theirs - C(migrate (j1234.56) on db3 - running for
    2m15s), followed by the job's last output line when its output is captured (jobs
    started by M(asyncjobs.named.async_task) in a command form). With C(no_log), no line.
  - Stopping the controller (Ctrl-C) leaves the job running and named.
  - Lost connection - when the connection fails during a wait slice, the host is
    unreachable as for any failed connection (or the task fails, when only the output was
    lost), and the result still names the job (RV(ansible_job_id), RV(ansible_job_alias);
    for O(jobs), RV(results)) and says that it keeps running and that running the task
    again waits for it again.
  - A waiter holds on to the job id it resolved, so several controllers waiting on the
    same job all get its result, even after the first one frees the name.
  - The job is given by exactly one of O(jid), O(alias), O(job) and O(jobs).
options:
  job:
    description:
      - An async task's registered result, or the name of the variable it was registered as.
    type: raw
  jobs:
    description:
      - Several jobs, waited for together in one task, with one module run per slice for all
        of them (native M(ansible.builtin.async_status) takes one job id at a time).
      - A loop's registered result (of an C(async)/C(poll=0) task or of
        M(asyncjobs.named.async_task)), a list of registered results, a list of job ids or
        a list of names; or the name of a variable that holds one of these. A string that
        looks like a job id (C(j123456789012.4242)) is a job id. Dicts with C(jid) and/or
        C(alias) are read too.
      - The entries must be of one form, and each job given once; anything else fails the
        task before anything is waited for, with a message that names the entry.
      - The task returns RV(results), one entry per job in the same order, and fails when
        any job failed, naming each.
      - Exactly one of O(jid), O(alias), O(job) and O(jobs) is required.
    type: raw
  retries:
    description:
      - With O(delay), the wait budget is O(retries) times O(delay) seconds, as with
        C(until)/C(retries)/C(delay) on M(ansible.builtin.async_status).
      - Without O(retries) and O(timeout) the wait has no budget; the job's own C(async)
        time limit still ends it.
    type: int
  delay:
    description:
      - Seconds per retry for the budget (see O(retries)). Waiting itself does not poll at
        this pace.
    type: float
    default: 5
  timeout:
    description:
      - The wait budget in seconds (instead of O(retries) and O(delay)).
    type: float
  cleanup:
    description:
      - Once the job's outcome has been returned, free its name (by O(alias), that name
        while it still points to this job; by O(jid), every name of the job). The job file
        stays, as native async keeps results until cleaned up; the job's output log goes
        (the result holds all of the output).
    type: bool
    default: true
seealso:
  - module: asyncjobs.named.async_task
  - module: asyncjobs.named.async_status_id
extends_documentation_fragment:
  - asyncjobs.named.attributes
  - asyncjobs.named.job.alias
  - asyncjobs.named.job.jid
  - asyncjobs.named.job.tail_lines
attributes:
  check_mode:
    details: In check mode it reports the job's current status without waiting and frees nothing.
'''

EXAMPLES = r'''
- name: Start a backup
  ansible.builtin.shell: /usr/local/bin/backup.sh
  async: 7200
  poll: 0
  register: backup

- name: Wait up to an hour for it
  asyncjobs.named.async_wait:
    job: backup
    timeout: 3600

- name: Wait for a named job, with the native retries x delay budget
  asyncjobs.named.async_wait:
    alias: migrate
    retries: 720
    delay: 5
  register: migrate_result

- name: Start a migration on every database
  ansible.builtin.command: /usr/local/bin/migrate {{ item }}
  async: 3600
  poll: 0
  loop: [users, orders, billing]
  register: migrations

- name: Wait for all three in one task (fails when any failed, naming it)
  asyncjobs.named.async_wait:
    jobs: "{{ migrations }}"
    timeout: 3600
  register: migrated
'''

RETURN = r'''
containment:
  description:
    - How the job is contained, for a job that async_task started (see
      R(Containment,ansible_collections.asyncjobs.named.docsite.guide_containment)), and what
      it used where it has a cgroup.
  returned: for a job that async_task started in one step (not under Mitogen for Ansible)
  type: dict
  contains:
    mechanism:
      description:
        - V(cgroup) (the job has a cgroup of its own) or V(environ) (its processes are found
          by the mark in their environment).
      returned: always
      type: str
      sample: cgroup
    cpu_seconds:
      description: CPU time used by all the job's processes so far (user and system), in seconds.
      returned: with a cgroup
      type: float
      sample: 12.5
    memory_peak:
      description: The most memory the job's processes held at once, in bytes.
      returned: with a cgroup that has a memory controller
      type: int
      sample: 52428800
    oom_kills:
      description: Processes of the job the kernel killed for going over its memory limit.
      returned: with a cgroup that has a memory controller, and a kernel that counts them
      type: int
      sample: 0
    swept:
      description:
        - Processes of a job that timed out that its C(async) time limit left running (native
          async kills only the job's process group) and that were killed when the limit was
          reached, by the job's keeper (or, without one, at the first status read after it).
      returned: for a job that timed out
      type: list
      elements: int
      sample: [4250]
    left_running:
      description:
        - Processes of a job that ended (not by its time limit) that still run - a daemon it
          started. They are left running; M(asyncjobs.named.async_kill) stops them.
      returned: when there are any (with a cgroup or a keeper, or for an orphaned job)
      type: list
      elements: int
      sample: [4250]
    escaped:
      description:
        - Processes of the job that its mechanism missed and another way found (with a
          cgroup, processes with the job's mark, or descended from the job's keeper, that left
          its cgroup; without, processes of its tree or group, or descended from its keeper,
          without the mark). They are stopped too.
      returned: by M(asyncjobs.named.async_kill) of a running job
      type: list
      elements: int
      sample: []
ansible_job_id:
  description: The job id.
  returned: unless O(jobs) is given
  type: str
  sample: j360874038559.4169
ansible_job_alias:
  description: The name it was waited on by.
  returned: when waited on by O(alias)
  type: str
  sample: migrate
started:
  description: Whether the job started.
  returned: unless O(jobs) is given
  type: bool
  sample: true
finished:
  description: Whether the job finished (false when the budget ran out).
  returned: unless O(jobs) is given
  type: bool
  sample: true
state:
  description: The job's state (see M(asyncjobs.named.async_status_id)).
  returned: unless O(jobs) is given
  type: str
  sample: succeeded
results_file:
  description: The job's state file.
  returned: unless O(jobs) is given
  type: str
  sample: /home/user/.ansible_async/j360874038559.4169
waited:
  description: Seconds this task waited.
  returned: unless O(jobs) is given
  type: float
  sample: 10.2
released:
  description: The names freed by O(cleanup).
  returned: unless O(jobs) is given
  type: list
  elements: str
  sample: [/home/user/.ansible_async/jid_migrate]
rc:
  description: The job's return code, when its module returns one.
  returned: when the job's result has one
  type: int
  sample: 0
killed:
  description: Whether the job was killed (see M(asyncjobs.named.async_kill)).
  returned: unless O(jobs) is given
  type: bool
  sample: false
signal:
  description:
    - For a job stopped by M(asyncjobs.named.async_kill), the signal it was sent first (C(SIGTERM),
      C(SIGINT), C(SIGKILL), ...), from the record that async_kill writes into its job file
      (with RV(killed), RV(msg) and RV(finished)).
  returned: when the job was killed by M(asyncjobs.named.async_kill), unless O(jobs) is given
  type: str
  sample: SIGTERM
pid_missing:
  description: True when the job never finished and its runner (async_wrapper, or Mitogen for Ansible's) is gone (RV(state=orphaned)).
  returned: unless O(jobs) is given
  type: bool
  sample: false
pid:
  description:
    - The process id of Mitogen for Ansible's async runner, from the job file it writes while
      the job runs. Jobs of async_wrapper have no such key.
  returned: while a job of Mitogen for Ansible's runner is unfinished
  type: int
  sample: 8038
data:
  description: What Mitogen for Ansible's runner writes beside RV(pid) while the job runs (empty).
  returned: while a job of Mitogen for Ansible's runner is unfinished
  type: str
  sample: ''
stdout:
  description: The job's standard output; empty when it has none.
  returned: unless O(jobs) is given
  type: str
  sample: done
stderr:
  description: The job's standard error; empty when it has none.
  returned: unless O(jobs) is given
  type: str
  sample: ''
stdout_lines:
  description: RV(stdout) split into lines.
  returned: unless O(jobs) is given
  type: list
  elements: str
  sample: [done]
stderr_lines:
  description: RV(stderr) split into lines.
  returned: unless O(jobs) is given
  type: list
  elements: str
  sample: []
msg:
  description:
    - The job's message, C(Timeout exceeded), or C(Ran out of attempts.) when the budget is spent.
    - With O(jobs), when any failed, which ones - C(2 of 5 jobs failed) followed by each
      job's id (and name) and message.
  returned: when there is one
  type: str
  sample: Ran out of attempts.
results:
  description:
    - With O(jobs), one entry per job, in the order of O(jobs), each what a call for that job
      alone returns - RV(state), RV(ansible_job_id), RV(waited), RV(released), the job's own
      result, ... The entry of a job that failed has C(failed=true).
  returned: when O(jobs) is given
  type: list
  elements: dict
  sample: [{ansible_job_id: j360874038559.4169, state: succeeded, rc: 0, waited: 3.2}]
running_for:
  description: Seconds since the job started, while it runs (when its start is known).
  returned: when the job is still running
  type: float
  sample: 135.0
stdout_tail:
  description:
    - The last O(tail_lines) lines of the job's standard output so far, oldest first; the
      last may be a line still being written. In RV(results) too, per job.
  returned: when the job is still running and its output is captured (started by async_task in a command form)
  type: list
  elements: str
  sample: [migrating table 41 of 42]
stderr_tail:
  description: The same for the job's standard error.
  returned: when the job is still running and its output is captured (started by async_task in a command form)
  type: list
  elements: str
  sample: []
'''

import sys

from ansible_collections.asyncjobs.named.plugins.module_utils._host.module import run_module
from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    require_async_dir)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.jobs_input import job_refs

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import RUNNING
from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import (
    release_plan, send_header)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import (
    JOBS_HEADER, WAIT_SPEC)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.wait import (
    add_progress, resolve, resolve_refs, wait_for, wait_for_all)


def _announce(params, check_mode, jids, aliases):
    """The header line (JOBS_HEADER: the jobs about to be waited for), when the action asks
    for it: it leaves the host before the wait, so that the controller knows the jobs even
    if the connection dies during the wait."""
    if params['_header'] and not check_mode and (params['_slice'] or 0) > 0:
        send_header(sys.stdout, JOBS_HEADER, [
            dict(ansible_job_id=j, **(dict(ansible_job_alias=a) if a else {}))
            for j, a in zip(jids, aliases)])


def run_many(async_dir, params, check_mode):
    """Wait for every job of ``jobs`` in one slice; ``results`` in their order."""
    refs = job_refs(params['jobs'])
    jids = resolve_refs(async_dir, refs)
    _announce(params, check_mode, jids, [ref.get('alias') for ref in refs])
    statuses = wait_for_all(async_dir, jids, 0 if check_mode else (params['_slice'] or 0))
    releases = []
    for ref, jid, status in zip(refs, jids, statuses):
        status['released'] = []
        if params['cleanup'] and status['state'] != RUNNING and not check_mode:
            status['released'] = release_plan(async_dir, jid, ref.get('alias'))
            releases.append((async_dir, jid, ref.get('alias')))
        if 'alias' in ref:
            status['ansible_job_alias'] = ref['alias']
        add_progress(async_dir, status, tail_lines=params['tail_lines'])
    return dict(results=statuses, changed=any(bool(s.get('changed')) for s in statuses),
                _release=releases)


def run(params, check_mode):
    async_dir, alias = require_async_dir(params), params['alias']
    if params['tail_lines'] < 0:
        raise JobError('tail_lines must be 0 or more, not %s' % params['tail_lines'])
    if params['jobs'] is not None:
        return run_many(async_dir, params, check_mode)
    jid = resolve(async_dir, jid=params['jid'], alias=alias)
    _announce(params, check_mode, [jid], [alias])
    status = wait_for(async_dir, jid, 0 if check_mode else (params['_slice'] or 0))
    status['released'] = []
    if params['cleanup'] and status['state'] != RUNNING and not check_mode:
        # Freed once the result has left the host (run_module, ``_release``).
        status['released'] = release_plan(async_dir, jid, alias)
        status['_release'] = [(async_dir, jid, alias)]
    if alias is not None:
        status['ansible_job_alias'] = alias
    return add_progress(async_dir, status, tail_lines=params['tail_lines'])


def main():
    run_module(WAIT_SPEC, run)


if __name__ == '__main__':
    main()
