#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: async_status_id
short_description: Status and clean-up of async jobs, by job id or by name
version_added: 0.1.0
description:
  - Gets the status of an Ansible async job (a task run with C(async) and C(poll)), found
    by its job id (O(jid)) or by a name given to it (O(alias), see M(asyncjobs.named.async_alias)).
  - By O(jid) it is a drop-in replacement for M(ansible.builtin.async_status) - same
    options, same return values with the same types on each ansible-core version, the same
    C(could not find job) failure - plus the return values listed below.
  - A name is a symlink C(jid_<alias>) in the async dir pointing at the job's state file.
    The older form C(<jid>.jid_<alias>) is read too. A name that does not exist, or whose
    job file is gone, is RV(state=absent) and not an error, so a playbook can look a job
    up and start it only when it is absent.
  - On every status of a started, unfinished job it checks that the job's C(async_wrapper)
    process is still alive. A job whose wrapper is gone is C(orphaned) and fails, instead of
    being reported as running forever.
  - The async dir is found exactly as M(ansible.builtin.async_status) finds it, from the
    shell option C(async_dir) (C(ANSIBLE_ASYNC_DIR), C(ansible_async_dir), default
    C(~/.ansible_async)), expanded for the remote and become user.
  - The job is given by exactly one of O(jid), O(alias) and O(jobs).
options:
  jobs:
    description:
      - Several jobs, reported (or cleaned up, with O(mode)) in one task and one module run,
        with one scan of the process table for all of them.
      - A loop's registered result (of an C(async)/C(poll=0) task or of
        M(asyncjobs.named.async_task)), a list of registered results, a list of job ids or
        a list of names; or the name of a variable that holds one of these. A string that
        looks like a job id (C(j123456789012.4242)) is a job id. Dicts with C(jid) and/or
        C(alias) are read too.
      - The entries must be of one form, and each job given once; anything else, or a job
        id that is not found, fails the task with a message that names the entry, and
        nothing is cleaned up.
      - The task returns RV(results), one entry per job in the same order, and fails when
        any job failed, naming each.
    type: raw
  mode:
    description:
      - V(status) reports the job's status.
      - V(cleanup) by O(alias) removes the name only (the job file and its result stay);
        by O(jid) it removes the job file, as M(ansible.builtin.async_status) does, and the
        job's files of ours (its record of how M(asyncjobs.named.async_task) started it,
        its output log).
      - V(full_cleanup) removes the job file, its C(.tmp) file, its files of ours, every
        name (in both link forms) pointing to it, and the lock files of those names once
        they have nothing else.
      - Removing the name of a running job, or V(full_cleanup) of a running job, is refused
        unless O(force=true), because a re-run would then start a duplicate.
    type: str
    choices: [status, cleanup, full_cleanup]
    default: status
  force:
    description:
      - Clean up even when the job is still running.
    type: bool
    default: false
notes:
  - Only entries inside the async dir are ever removed; a name that points outside it is
    never followed.
  - Liveness is read from C(/proc) on Linux, and from C(ps) where there is no C(/proc). When
    it cannot be determined (for example C(/proc) mounted with C(hidepid) and the job owned
    by another user) the job is reported as running, with a warning.
  - RV(started) and RV(finished) are integers before ansible-core 2.19 and booleans from
    2.19 on, as with M(ansible.builtin.async_status).
  - In the clean-up modes RV(started), RV(finished) and RV(state) describe the job as it was
    found before the clean-up, and C(changed) says whether anything was removed;
    M(ansible.builtin.async_status) V(mode=cleanup) returns C(started), C(finished) and
    C(changed) as false whatever the job was and whether it removed the file.
seealso:
  - module: ansible.builtin.async_status
  - module: asyncjobs.named.async_alias
extends_documentation_fragment:
  - asyncjobs.named.attributes
  - asyncjobs.named.job.alias
  - asyncjobs.named.job.jid
attributes:
  check_mode:
    details: In check mode the clean-up modes report in RV(erased) what they would remove, and remove nothing.
'''

EXAMPLES = r'''
- name: Find out whether the job named blah exists
  asyncjobs.named.async_status_id:
    alias: blah
  register: job_result

- name: Start it only when it does not
  ansible.builtin.shell: |
    echo Hello &&
    sleep 60
  async: 1000
  poll: 0
  register: async_task_obj
  when: not job_result.started

- name: Name it
  asyncjobs.named.async_alias:
    job: async_task_obj
    alias: blah
  when: not job_result.started

- name: Wait for it (a re-run after a crash attaches here to the same job)
  asyncjobs.named.async_status_id:
    alias: blah
  register: job_result
  until: job_result.finished
  retries: 100
  delay: 5

- name: Forget the name, keep the result file
  asyncjobs.named.async_status_id:
    alias: blah
    mode: cleanup

- name: Drop-in for async_status, by job id
  asyncjobs.named.async_status_id:
    jid: '{{ async_task_obj.ansible_job_id }}'
  register: job_result
  until: job_result is finished
  retries: 100
  delay: 10

- name: Start three jobs
  ansible.builtin.command: /usr/local/bin/backup {{ item }}
  async: 3600
  poll: 0
  loop: [users, orders, billing]
  register: backups

- name: The status of all three, in one task
  asyncjobs.named.async_status_id:
    jobs: "{{ backups }}"
  register: backup_status

- name: Remove the job file and every name pointing at it
  asyncjobs.named.async_status_id:
    jid: '{{ async_task_obj.ansible_job_id }}'
    mode: full_cleanup
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
started:
  description: Whether the job has started (false only when it is absent).
  returned: unless O(jobs) is given
  type: bool
  sample: true
finished:
  description: Whether the job has finished (true for every state but running and absent).
  returned: unless O(jobs) is given
  type: bool
  sample: false
state:
  description:
    - The job's state.
    - V(absent) - no such name, or its job file is gone.
    - V(running) - started, not finished, its runner (async_wrapper, or Mitogen for Ansible's) alive.
    - V(succeeded), V(failed) - finished, by the job's own result.
    - V(timed_out) - stopped by its runner at the C(async) time limit.
    - V(killed) - stopped by M(asyncjobs.named.async_kill) or anything that wrote C(killed) into the file.
    - V(orphaned) - never finished and its wrapper is gone (killed, crashed, or the host rebooted).
  returned: unless O(jobs) is given
  type: str
  choices: [absent, running, succeeded, failed, timed_out, killed, orphaned]
  sample: running
killed:
  description: Whether the job was killed.
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
  description: True when the job is unfinished but its runner (async_wrapper, or Mitogen for Ansible's) is gone (RV(state=orphaned)).
  returned: unless O(jobs) is given
  type: bool
  sample: false
pid:
  description:
    - The process id of Mitogen for Ansible's async runner, from the job file it writes while
      the job runs. Jobs of async_wrapper have no such key.
  returned: with O(mode=status), while a job of Mitogen for Ansible's runner is unfinished
  type: int
  sample: 8038
data:
  description: What Mitogen for Ansible's runner writes beside RV(pid) while the job runs (empty).
  returned: with O(mode=status), while a job of Mitogen for Ansible's runner is unfinished
  type: str
  sample: ''
ansible_job_id:
  description: The job id; null when looked up by an alias that does not exist.
  returned: unless O(jobs) is given
  type: str
  sample: j360874038559.4169
ansible_job_alias:
  description: The name the job was looked up by.
  returned: when looked up by O(alias)
  type: str
  sample: blah
results_file:
  description: Path of the job's state file; null when looked up by an alias that does not exist.
  returned: unless O(jobs) is given
  type: str
  sample: /home/user/.ansible_async/j360874038559.4169
erased:
  description:
    - What was removed (in check mode, what would be).
    - With O(mode=cleanup) by O(jid) it is the job file's path, a string, as
      M(ansible.builtin.async_status) returns it; otherwise a list of paths.
  returned: when O(mode) is V(cleanup) or V(full_cleanup), unless O(jobs) is given
  type: raw
  sample: [/home/user/.ansible_async/jid_blah]
stdout:
  description: The job's standard output, when it has any; empty otherwise.
  returned: unless O(jobs) is given
  type: str
  sample: Hello
stderr:
  description: The job's standard error, when it has any; empty otherwise.
  returned: unless O(jobs) is given
  type: str
  sample: ''
stdout_lines:
  description: RV(stdout) split into lines.
  returned: unless O(jobs) is given
  type: list
  elements: str
  sample: [Hello]
stderr_lines:
  description: RV(stderr) split into lines.
  returned: unless O(jobs) is given
  type: list
  elements: str
  sample: []
msg:
  description:
    - Why the job is orphaned, or the job's own message.
    - With O(jobs), when any failed, which ones - C(2 of 5 jobs failed) followed by each
      job's id (and name) and message.
  returned: when the job is orphaned, or its result has one
  type: str
  sample: 'job j1.2 never finished: its async_wrapper process is gone (killed, crashed or the host rebooted); its result is lost'
results:
  description:
    - With O(jobs), one entry per job, in the order of O(jobs), each what a call for that job
      alone returns (RV(state), RV(ansible_job_id), RV(erased) in the clean-up modes, the
      job's own result, ...).
  returned: when O(jobs) is given
  type: list
  elements: dict
  sample: [{ansible_job_id: j360874038559.4169, state: running, started: true, finished: false}]
'''

from ansible_collections.asyncjobs.named.plugins.module_utils._host.module import run_module
from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    require_async_dir)

from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import job_status
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import STATUS_SPEC


def run_many(async_dir, params, check_mode):
    """The status (or clean-up) of every job of ``jobs``; ``results`` in their order."""
    # Imported here, as cleanup below: a status poll of one job does not load them.
    from ansible_collections.asyncjobs.named.plugins.module_utils._shared.jobs_input import job_refs
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import (
        job_statuses)
    refs = job_refs(params['jobs'])
    if params['mode'] == 'status':
        results = job_statuses(async_dir, refs)
    else:
        from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import (
            cleanup_many)
        results = cleanup_many(async_dir, params['mode'], refs, force=params['force'],
                               check_mode=check_mode)
    return dict(results=results, changed=any(bool(r.get('changed')) for r in results))


def run(params, check_mode):
    async_dir = require_async_dir(params)
    if params['jobs'] is not None:
        return run_many(async_dir, params, check_mode)
    if params['mode'] == 'status':
        return job_status(async_dir, jid=params['jid'], alias=params['alias'])
    # Imported here so that a status poll, the common call, does not load it on the host
    # (Ansible still ships it with the module: it finds imports anywhere in the file).
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import cleanup
    return cleanup(async_dir, params['mode'], jid=params['jid'], alias=params['alias'],
                   force=params['force'], check_mode=check_mode)


def main():
    run_module(STATUS_SPEC, run)


if __name__ == '__main__':
    main()
