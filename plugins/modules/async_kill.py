#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: async_kill
short_description: Stop a running async job, by name or job id
version_added: 0.1.0
description:
  - Stops an async job's async_wrapper watcher, its whole process group (the module and
    what it started there) and any other descendant, then atomically writes a terminal
    state into the job file - C(killed), C(finished) and C(failed) true, and a message
    naming the signal - so that every status call reports it as RV(state=killed).
  - For a job that M(asyncjobs.named.async_task) started in one step, every other member of
    the job is stopped too - a daemon that forked twice into a session of its own (as
    C(setsid cmd &) in a subshell does) included - as root by the job's cgroup (frozen while
    its members are signalled), else by the mark in the environment of the job's processes
    (a process that cleared its environment escapes that). See
    R(Containment,ansible_collections.asyncjobs.named.docsite.guide_containment). For other
    jobs (a plain C(async) task, Mitogen for Ansible) such a daemon is not found.
  - A job that is no longer running but left processes of it running (a daemon it started,
    what its C(async) time limit left) has those stopped (changed); the job keeps its
    result.
  - The watcher is stopped first so that it cannot report a timeout meanwhile. The job's
    processes get O(signal); those still alive O(grace) seconds later get C(SIGKILL).
  - A missing name, or a job that ended with nothing of it left, is left as it is (ok,
    not changed). A job that finishes on its own while being stopped keeps its real result.
  - The job's remote tmp dir (where Ansible copied the module, which the watcher would
    have removed when the job ended) is left in place, as after any job whose watcher dies,
    because this module deletes nothing outside the async dir. Ansible's remote tmp path
    is the place to clean up after many killed jobs.
  - The job is given by exactly one of O(jid) and O(alias).
options:
  signal:
    description:
      - The signal to send first, by name (V(TERM), V(SIGINT), ...) or number.
    type: str
    default: TERM
  grace:
    description:
      - Seconds to wait for the job's processes to exit before sending C(SIGKILL).
    type: float
    default: 5
seealso:
  - module: asyncjobs.named.async_status_id
  - module: asyncjobs.named.async_task
extends_documentation_fragment:
  - asyncjobs.named.attributes
  - asyncjobs.named.job.alias
  - asyncjobs.named.job.jid
attributes:
  check_mode:
    details: In check mode it reports in RV(pids) what it would signal and signals nothing.
'''

EXAMPLES = r'''
- name: Stop the migration
  asyncjobs.named.async_kill:
    alias: migrate

- name: Interrupt a job by id, and SIGKILL it if it has not exited 30 s later
  asyncjobs.named.async_kill:
    jid: '{{ backup.ansible_job_id }}'
    signal: INT
    grace: 30
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
  description: The job id; null for a name that does not exist.
  returned: always
  type: str
  sample: j360874038559.4169
ansible_job_alias:
  description: The name.
  returned: when given O(alias)
  type: str
  sample: migrate
state:
  description: The job's state afterwards (V(killed) when it was stopped).
  returned: always
  type: str
  sample: killed
killed:
  description: Whether the job is now marked killed.
  returned: always
  type: bool
  sample: true
pids:
  description: The processes that were signalled (in check mode, that would be).
  returned: always
  type: list
  elements: int
  sample: [4242, 4243, 4250]
unstopped:
  description:
    - The processes of the job still there after the grace period and SIGKILL (empty when
      every process of the job is gone). Processes that could not be stopped are also named
      in RV(msg).
  returned: always
  type: list
  elements: int
  sample: []
  version_added: 0.1.0
signal:
  description: The name of the signal sent first.
  returned: always
  type: str
  sample: SIGTERM
msg:
  description: The message written into the job file.
  returned: when the job is killed
  type: str
  sample: job j360874038559.4169 was killed by asyncjobs.named.async_kill with SIGTERM
job_failed:
  description:
    - Whether the job is a failed job now (killed, or failed, timed out or orphaned before).
      The task itself does not fail because of it.
  returned: always
  type: bool
  sample: true
started:
  description: Whether the job had started (false for a name that does not exist).
  returned: always
  type: bool
  sample: true
finished:
  description: Whether the job is finished (killed included).
  returned: always
  type: bool
  sample: true
pid_missing:
  description: True when the job was found orphaned (its runner, async_wrapper or Mitogen for Ansible's, gone before it finished).
  returned: always
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
  description: The job's standard output, when its own result (of a job that had finished) has one.
  returned: when the job's result has one
  type: str
  sample: done
stderr:
  description: The job's standard error, when its own result has one.
  returned: when the job's result has one
  type: str
  sample: ''
stdout_lines:
  description: RV(stdout) split into lines.
  returned: when the job's result has RV(stdout)
  type: list
  elements: str
  sample: [done]
stderr_lines:
  description: RV(stderr) split into lines.
  returned: when the job's result has RV(stderr)
  type: list
  elements: str
  sample: []
results_file:
  description: The job's state file; null for a name that does not exist.
  returned: always
  type: str
  sample: /home/user/.ansible_async/j360874038559.4169
'''

from ansible_collections.asyncjobs.named.plugins.module_utils._host.module import run_module
from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    require_async_dir)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import job_status
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import ABSENT
from ansible_collections.asyncjobs.named.plugins.module_utils._host.kill import (
    kill, signal_name, signal_number)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import KILL_SPEC
from ansible_collections.asyncjobs.named.plugins.module_utils._host.wait import resolve


def run(params, check_mode):
    async_dir, alias = require_async_dir(params), params['alias']
    number = signal_number(params['signal'])
    try:
        jid = resolve(async_dir, jid=params['jid'], alias=alias)
    except JobError as e:
        if alias is None or e.result.get('state') != ABSENT:
            raise
        # A name with no job: nothing to stop (ok, not changed), reported as absent.
        return dict(job_status(async_dir, alias=alias), changed=False, pids=[], unstopped=[],
                    signal=signal_name(number), job_failed=False, failed=False)
    result = kill(async_dir, jid, number, params['grace'], check_mode=check_mode)
    if alias is not None:
        result['ansible_job_alias'] = alias
    # The kill itself succeeded: the job's failed/killed state is reported, not raised.
    # failed is set (false), or a job's own non-zero rc would fail the task.
    result['job_failed'] = bool(result.pop('failed', False))
    result['failed'] = False
    return result


def main():
    run_module(KILL_SPEC, run)


if __name__ == '__main__':
    main()
