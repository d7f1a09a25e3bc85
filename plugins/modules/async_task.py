#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: async_task
short_description: Run a named async job exactly once, attach to it on re-runs, and wait for it
version_added: 0.1.0
description:
  - One task that is safe under crashes and concurrent runs - it looks the name up on the
    host and, by what it finds, starts a job through Ansible's own async machinery (the job
    file is a normal native job file) or attaches to the job already there, then optionally
    waits for it on the host like M(asyncjobs.named.async_wait).
  - Nothing (or a name whose job file is gone) - claim the name atomically, start the job,
    name it.
  - A claim by another run that is still starting the job - wait for it (at most about 90
    seconds), then attach.
  - A running job - attach to it, start nothing.
  - A finished job (succeeded, failed, timed out, orphaned) whose outcome nobody has
    collected - when this task waits, return that outcome as its own result and start
    nothing (a controller that died while waiting must not cause a second run); when it does
    not wait, free the name and start a new job.
  - A killed job - free the name and start a new job.
  - Exactly once - several controllers running the same task on the same host at the same
    moment start one job, and all return that job's id and result. The checks and changes of
    a name happen under an exclusive lock (C(flock)) on C(.jid_<alias>.lock) in the async dir;
    a run that starts a job first writes a claim C(.jid_<alias>.claim) that records which job
    it is about to start - the job id prefix of its async_wrapper, or under Mitogen for
    Ansible the job id itself.
  - A job started by a controller that died before naming it is found by its claim and
    attached to at once, running or finished; while its async_wrapper's processes live
    without a job file yet, nothing else is started. Whether a job lives is told by its
    processes, never by a clock. A claim whose job was never started is dropped at once
    (one-step start), or taken over after 60 seconds (a start in several steps).
  - Failures after the start - when the job was started but naming it or reading its status
    failed, the task fails with the job's id and RV(job_started); the job, its remote tmp
    dir and the claim that leads to it stay, and running the task again names that job and
    attaches to it. Nothing a job that may be running needs is ever removed.
  - Any module - the job may be any module that native async runs (Python, a C(WANT_JSON)
    script, a binary); the start runs on async_wrapper's own interpreter. The task's
    C(environment) reaches the job as for native async, however large, and the task's shell
    (C(ansible_shell_executable)) runs async_wrapper's command, as natively.
  - The remaining window - where a start in several steps is not under Mitogen (a connection
    or action plugin that replaces ansible-core's module execution), the claim carries a
    token that the job's processes get in their environment (C(ASYNCJOBS_NAMED_CLAIM)), and
    a job whose controller died before naming it is found by it only while it runs; if it
    finishes before any other run looks at the name, 60 seconds later the next run starts
    the job again; the same where C(/proc/<pid>/environ) cannot be read. A start in several
    steps that takes more than 60 seconds from its claim to the job's start (a very slow
    connection or script transfer) is taken for dead, so another run starts the job too.
  - Honours C(become), C(environment), C(delegate_to) and the connection as a plain task
    would, including the async dir of the become user.
  - Containment - a job started in one step runs, as root with a writable cgroup fs, in a
    cgroup of its own made before its first process (its CPU seconds and peak memory are
    in its status, and O(limits) apply); elsewhere its processes carry the mark
    C(ASYNCJOBS_NAMED_JOB) in their environment; and async_wrapper runs under the job's
    keeper, a process that adopts every orphaned process of the job (a child subreaper).
    M(asyncjobs.named.async_kill) stops every process of the job by them, daemonized ones
    too; when the C(async) time limit is reached the keeper kills what the limit left, and
    once nothing of the job is left it records the job's figures and removes its cgroup. See
    R(Containment,ansible_collections.asyncjobs.named.docsite.guide_containment) for what
    each mechanism guarantees. Under Mitogen for Ansible jobs are not contained.
  - Output while it runs - the command forms (O(shell), O(cmd), O(argv), O(script)) run as
    M(asyncjobs.named.async_command), whose result is the one M(ansible.builtin.command)
    returns for the same command (but for a last line that M(ansible.builtin.command) can
    miss on a loaded host; see M(asyncjobs.named.async_command)), and which also writes the command's standard output and
    error, as they come, to a log beside the job file (C(.output-<token>.log) in the async
    dir, bounded by O(output_limit)). While the job runs, this task, M(asyncjobs.named.async_wait)
    and M(asyncjobs.named.async_jobs_info) return its last lines (RV(stdout_tail),
    RV(stderr_tail)), and each progress line shows the last one. Follow it live on the host
    with C(tail -F). The log goes when the job's outcome has been returned with O(cleanup)
    (the result holds all of the output), with the job by C(cleanup) and C(full_cleanup)
    of M(asyncjobs.named.async_status_id), and by M(asyncjobs.named.async_prune). With
    C(no_log), no log is written and no tail or progress text is returned or printed.
  - Progress - while it waits, the task prints a line at least every 15 seconds (after each
    wait slice, and from the controller during a longer slice) at the default verbosity,
    as native retries do - C(migrate (j1234.56) on db3 - running
    for 2m15s), followed by the job's last output line when there is one.
  - Lost connection - when the connection fails while the task waits (in its first wait
    slice or a later one), the host is unreachable as for any failed connection (or the task
    fails, when only the output was lost), and the result still names the job
    (RV(ansible_job_id), RV(ansible_job_alias), RV(attached)) and says that it keeps running
    and that running the task again attaches to it.
  - Fleets - with a wait budget the task holds a fork per host for the whole wait; on more
    hosts than forks it warns once that the hosts run in batches (see
    O(fork_batches_warning)). Start without a wait budget, then wait with
    M(asyncjobs.named.async_wait), to wait on all hosts at once.
options:
  alias:
    required: true
  async:
    description:
      - The job's time limit in seconds, as the C(async) task keyword means it; async_wrapper
        kills the job when it is exceeded (RV(state=timed_out)).
    type: int
    required: true
  shell:
    description:
      - A command line run by the shell, as M(ansible.builtin.shell) runs it.
      - Exactly one of O(shell), O(cmd), O(argv), O(script) and O(module) is required.
    type: str
  cmd:
    description:
      - A command line run without a shell, as M(ansible.builtin.command) runs it.
    type: str
  argv:
    description:
      - The command as a list of arguments, run without a shell.
    type: list
    elements: str
  script:
    description:
      - A local script's path followed by its arguments. The script is transferred to the
        host's remote tmp dir, as M(ansible.builtin.script) does, and run from there; the dir
        is removed when the job ends. Found in C(files/) like other local files.
    type: str
  module:
    description:
      - Any module that has no controller-side action plugin of its own (M(ansible.builtin.command)
        is accepted), run as the job with O(module_args). Others are refused.
    type: str
  module_args:
    description:
      - The options of O(module).
    type: dict
  chdir:
    description: Change into this directory before running the command (shell, cmd, argv, script).
    type: path
  executable:
    description: The shell to run O(shell) with, or the interpreter to run O(script) with.
    type: path
  creates:
    description: A path; when it exists, the command is not run (shell, cmd, argv, script).
    type: path
  removes:
    description: A path; when it does not exist, the command is not run (shell, cmd, argv, script).
    type: path
  stdin:
    description: Text fed to the command's standard input.
    type: str
  stdin_add_newline:
    description: Whether to append a newline to O(stdin).
    type: bool
    default: true
  strip_empty_ends:
    description: Strip empty lines from the end of stdout and stderr.
    type: bool
    default: true
  retries:
    description:
      - With O(delay), wait up to O(retries) x O(delay) seconds for the job. Without O(retries)
        and O(timeout), the task starts (or attaches) and returns at once.
    type: int
  delay:
    description: Seconds per retry for the wait budget.
    type: float
    default: 5
  timeout:
    description: Wait up to this many seconds for the job (instead of O(retries) and O(delay)).
    type: float
  cleanup:
    description:
      - Free the name once the job's outcome has been returned (after a wait), and remove
        the job's output log. The job file stays.
    type: bool
    default: true
  on_running:
    description:
      - What to do when the name leads to a job that is running (one that another run, another
        controller or an operator started; or a claim of a run that is starting it).
      - V(attach) - attach to it, start nothing, and wait for it when this task waits.
      - V(fail) - fail, start nothing; the job keeps running (the result names it). A run
        that is still starting the job counts as running.
      - V(restart) - kill it (SIGTERM, then SIGKILL to what is left after 5 seconds, as
        M(asyncjobs.named.async_kill)), then start a new job, all under the name's lock, so
        that two copies never run at once. Fails closed - when its processes cannot be
        read, or some are still there after SIGKILL, nothing is started. RV(replaced) names
        the killed job.
      - Several controllers that run the task with V(restart) at once each restart the job in
        turn, under the lock; one copy runs at any time, and the last start is the one left
        running.
    type: str
    choices: [attach, fail, restart]
    default: attach
    version_added: 0.1.0
  on_finished:
    description:
      - What to do when the name leads to a finished job (succeeded, failed, timed out,
        killed, orphaned) - the name is kept (O(cleanup=false)), its outcome was never
        collected (a controller died while waiting), or a start without a wait budget.
      - V(return) - return that job and its outcome as this task's result; start nothing.
      - V(restart) - free the name and start a new job.
      - V(restart_failed) - start a new job only when that job did not succeed (failed, timed
        out, killed or orphaned); return a succeeded one. "Run the migration again only if
        it failed".
      - Not set - a task that waits returns the outcome (a killed job is started again); a
        task that does not wait starts a new job. A job of a run that died before naming it
        is returned in both cases.
      - See R(the policy table,ansible_collections.asyncjobs.named.docsite.guide_named_jobs)
        for how the policies compose with O(cleanup).
    type: str
    choices: [return, restart, restart_failed]
    version_added: 0.1.0
  output_limit:
    description:
      - The largest size of the command's output log - bytes, or a number with a unit
        (V(100MB), V(1.5G), V(512k)); at least V(4k). Past it, the log keeps its start and
        its most recent part and says how much it cut. The job's own result is not cut.
      - Only for the command forms (shell, cmd, argv, script). Default 100 MB.
    type: str
  fork_batches_warning:
    description:
      - With a wait budget (O(retries) or O(timeout)), the task holds a fork per host for
        the whole wait, so on more hosts of the play batch than C(forks) (or the task's
        C(throttle), when smaller) the hosts run in batches, one after the other. The task
        then warns once (the first host of C(ansible_play_batch) says it), with the number
        of batches and the two-task form that waits on all hosts at once.
      - V(false) silences the warning, for a task that means to run in batches.
      - No warning in check mode (the task returns at once), for C(run_once), without a
        wait budget, or when the hosts fit in one batch.
    type: bool
    default: true
    version_added: 0.1.0
  limits:
    description:
      - Limits on the job's cgroup (see R(Containment,ansible_collections.asyncjobs.named.docsite.guide_containment)),
        set before the job's first process starts. Each one is optional.
      - Only where the job gets a cgroup of its own (root with a writable cgroup fs, and the
        one-step start, so not under Mitogen for Ansible); elsewhere the task fails and
        starts nothing.
      - A job over its memory limit has processes killed by the kernel (out of memory); it
        ends V(failed) (or V(orphaned) when the killed process was its runner), with RV(msg)
        saying that it went over its memory limit and RV(containment.oom_kills) counting the
        processes killed.
    type: dict
    suboptions:
      memory:
        description:
          - The most memory the job's processes may hold together - bytes, or a number with a
            unit (V(512M), V(2G)); at least 1M.
        type: str
      cpu:
        description:
          - The CPU time the job may use, in cores (V(1.5) is one and a half cores' worth of
            time).
        type: float
      tasks:
        description: The most processes and threads the job may have at once.
        type: int
    version_added: 0.1.0
seealso:
  - module: asyncjobs.named.async_wait
  - module: asyncjobs.named.async_kill
  - module: asyncjobs.named.async_status_id
extends_documentation_fragment:
  - asyncjobs.named.attributes
  - asyncjobs.named.job.alias
  - asyncjobs.named.job.tail_lines
attributes:
  async:
    details: The job itself is async; give its time limit in O(async), not the task keyword.
  check_mode:
    details: Reports whether it would attach or start (RV(attached), C(msg)) and starts nothing.
'''

EXAMPLES = r'''
- name: Migrate the database (recoverable)
  asyncjobs.named.async_task:
    alias: migrate
    shell: ./migrate.sh --all
    async: 3600        # the job's time limit, seconds, as the task keyword means
    retries: 720       # wait budget: retries x delay seconds
    delay: 5

- name: Start (or attach to) the backup and return at once
  asyncjobs.named.async_task:
    alias: nightly-backup
    argv: [/usr/local/bin/backup, --full]
    async: 7200
  register: backup

- name: Run a local script as the job, waiting up to 10 minutes
  asyncjobs.named.async_task:
    alias: decommission
    script: decommission.sh node7
    async: 1800
    timeout: 600

- name: Any module without an action plugin
  asyncjobs.named.async_task:
    alias: upgrade
    module: ansible.builtin.apt
    module_args:
      upgrade: dist
    async: 3600
    timeout: 3600
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
  description: The job's id.
  returned: always
  type: str
  sample: j360874038559.4169
ansible_job_alias:
  description: The job's name.
  returned: always
  type: str
  sample: migrate
attached:
  description: True when this task did not start the job (it found it running, or finished and uncollected).
  returned: always
  type: bool
  sample: false
started:
  description: Whether the job started.
  returned: always
  type: bool
  sample: true
finished:
  description: Whether the job finished.
  returned: always
  type: bool
  sample: true
state:
  description: The job's state (see M(asyncjobs.named.async_status_id)).
  returned: always
  type: str
  sample: succeeded
results_file:
  description: The job's state file.
  returned: always
  type: str
  sample: /home/user/.ansible_async/j360874038559.4169
rc:
  description: The command's return code, as the job's own result has it.
  returned: when the job finished and its module returns one
  type: int
  sample: 0
stdout:
  description: The job's standard output; empty while it runs.
  returned: always
  type: str
  sample: migrated 42 tables
stderr:
  description: The job's standard error; empty while it runs.
  returned: always
  type: str
  sample: ''
stdout_lines:
  description: RV(stdout) split into lines.
  returned: always
  type: list
  elements: str
  sample: [migrated 42 tables]
stderr_lines:
  description: RV(stderr) split into lines.
  returned: always
  type: list
  elements: str
  sample: []
killed:
  description: Whether the job was killed (by M(asyncjobs.named.async_kill)).
  returned: always
  type: bool
  sample: false
signal:
  description:
    - For a job stopped by M(asyncjobs.named.async_kill), the signal it was sent first (C(SIGTERM),
      C(SIGINT), C(SIGKILL), ...), from the record that async_kill writes into its job file
      (with RV(killed), RV(msg) and RV(finished)).
  returned: when the job was killed by M(asyncjobs.named.async_kill)
  type: str
  sample: SIGTERM
pid_missing:
  description: True when the job never finished and its runner (async_wrapper, or Mitogen for Ansible's) is gone (RV(state=orphaned)).
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
waited:
  description: Seconds this task waited for the job.
  returned: when O(retries) or O(timeout) is given (a wait budget)
  type: float
  sample: 12.4
released:
  description: The names freed by O(cleanup) once the job's outcome was returned.
  returned: when O(retries) or O(timeout) is given (a wait budget)
  type: list
  elements: str
  sample: [/home/user/.ansible_async/jid_migrate]
msg:
  description: The job's message; C(Timeout exceeded) after a wrapper timeout; C(Ran out of attempts.) when the wait budget is spent.
  returned: when there is one
  type: str
  sample: Ran out of attempts.
warning:
  description:
    - Compatibility with the async_extra role (the role these modules descend from), whose
      failed jobs carry this key; not one of Ansible's C(warnings).
    - For a job that finished and failed (RV(state) V(failed), V(timed_out), V(killed) or
      V(orphaned)) it begins with C(The job has failed.) and says what the next run does
      with the job's name (released by O(cleanup), or still holding the job). For a job still
      running when the wait budget was spent it says that the next run attaches to it.
  returned: when the task failed because of its job (its outcome, or the wait budget spent)
  type: str
  sample: 'The job has failed. Its name was released: the next run of this task starts the job again.'
running_for:
  description: Seconds since the job started, while it runs (when its start is known).
  returned: when the job is still running
  type: float
  sample: 135.0
stdout_tail:
  description:
    - The last O(tail_lines) lines of the job's standard output so far, oldest first; the
      last may be a line still being written.
  returned: when the job is still running and its output is captured (the command forms)
  type: list
  elements: str
  sample: [migrating table 41 of 42]
stderr_tail:
  description: The same for the job's standard error.
  returned: when the job is still running and its output is captured (the command forms)
  type: list
  elements: str
  sample: []
job_started:
  description:
    - When the start failed, what became of the job. V(true) - the job was started and
      keeps running (RV(ansible_job_id) is its id), but what came after failed (naming it,
      reading its status); the claim on the name records the job, so running the task
      again names it and attaches to it. V(false) - nothing was started; running the task
      again starts the job. V(null) - whether the job started cannot be told (its start
      runner did not report, or its processes live without a job file yet); the claim
      records which job it would be (RV(jid_prefix)), so running the task again attaches
      to it if it started, and starts nothing while its processes live.
    - Nothing that a job which may be running needs is removed in any case (its remote
      tmp dir, its claim).
  returned: when the start failed
  type: bool
  sample: true
replaced:
  description:
    - With O(on_running=restart), the running job that was killed before this job was started
      - its id (RV(replaced.ansible_job_id)), its state afterwards (RV(replaced.state),
      V(killed), or its own outcome when it finished before the signal arrived) and the
      processes signalled (RV(replaced.pids)).
  returned: when a running job was killed for a restart
  type: dict
  sample: {ansible_job_id: j360874038559.4169, state: killed, pids: [4242, 4250]}
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
  version_added: 0.1.0
jid_prefix:
  description: When the start runner did not report, the job id prefix of the job it was starting (the job's id is C(<prefix>.<pid>)).
  returned: when the start runner did not report
  type: str
  sample: j360874038559
'''
