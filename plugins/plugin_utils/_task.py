# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of async_task's action plugin (private): checking the options, the
job's module call for each form, what a start returned, the check-mode result and the
task result, the warning about fork batches. No I/O but that warning's display
(warn_fork_batches): table-driven unit tests in tests/unit/plugins/plugin_utils/."""

from __future__ import annotations

import math
import shlex

from ansible import context
from ansible.module_utils.common.text.formatters import human_to_bytes
from ansible.utils.display import Display

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.entries import MIN_LIMIT
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import (
    FINISHED_STATES, RUNNING, SUCCEEDED)
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    native_prefill, native_types, wait_budget)

# The options of ansible.builtin.command that the command forms take.
COMMAND_OPTIONS = ('chdir', 'executable', 'creates', 'removes', 'stdin', 'stdin_add_newline',
                   'strip_empty_ends')
# Modules whose action plugin adds nothing that matters to a plain async run.
PLAIN_ACTION_MODULES = ('ansible.builtin.command', 'ansible.legacy.command')
# The module the command forms (shell, cmd, argv, script) run with an output log:
# ansible.builtin.command's result (and never without a last line that run_command missed),
# with the command's output written to a log in the async dir while it runs; without a
# log, ansible.builtin.command itself.
COMMAND_MODULE = 'asyncjobs.named.async_command'
PLAIN_COMMAND_MODULE = 'ansible.legacy.command'

display = Display()


def option_error(args):
    """Why the (spec-validated) options of async_task cannot run, or None."""
    if args['async'] <= 0:
        return ("async must be a positive number of seconds (the job's time limit), not %s"
                % args['async'])
    if args['tail_lines'] < 0:
        return 'tail_lines must be 0 or more, not %s' % args['tail_lines']
    if args['output_limit'] is not None:
        try:
            output_limit_bytes(args['output_limit'])
        except ValueError as e:
            return str(e)
    if args['module'] is not None:
        given = [o for o in COMMAND_OPTIONS + ('output_limit',) if args[o] is not None
                 and o not in ('stdin_add_newline', 'strip_empty_ends')]
        if given:
            return ('%s %s only to shell, cmd, argv and script; give a module its options in '
                    'module_args' % (', '.join(given), 'applies' if len(given) == 1 else 'apply'))
    return None


def output_limit_bytes(text):
    """The bound of an output log, bytes, from the option ``output_limit``: a number of
    bytes or a size with a unit (``100MB``, ``1.5G``, ``512k``); ValueError with the
    message for the user when it is not one, or below the smallest bound."""
    try:
        limit = human_to_bytes(str(text).strip())
    except (ValueError, TypeError):
        raise ValueError('output_limit must be a size, bytes or a number with a unit (100MB, '
                         '1.5G, 512k), not %r' % (text,))
    if limit < MIN_LIMIT:
        raise ValueError('output_limit must be at least %d bytes (4k), not %r'
                         % (MIN_LIMIT, text))
    return limit


def module_call(args, module=None, script_argv=None, output_log=None):
    """(module name, module args) of the job.

    ``module``: the resolved name of the ``module`` form's module; ``script_argv``: the
    script form's command line on the host (the transferred script and its arguments);
    ``output_log``: the path on the host of the command forms' output log (None: no log).
    """
    if args['module'] is not None:
        return module, dict(args['module_args'] or {})
    margs = dict((o, args[o]) for o in COMMAND_OPTIONS if args[o] is not None)
    if args['shell'] is not None:
        margs.update(_raw_params=args['shell'], _uses_shell=True)
    elif args['cmd'] is not None:
        margs.update(_raw_params=args['cmd'])
    elif args['argv'] is not None:
        margs.update(argv=list(args['argv']))
    else:
        # The script's interpreter: executable, in front of the script.
        argv = list(script_argv)
        if margs.pop('executable', None):
            argv.insert(0, args['executable'])
        margs.update(argv=argv)
    if not output_log:
        return PLAIN_COMMAND_MODULE, margs
    margs['_output_log'] = output_log
    if args['output_limit'] is not None:
        margs['_output_limit'] = output_limit_bytes(args['output_limit'])
    return COMMAND_MODULE, margs


def output_log_of(args, no_log, mitogen=False):
    """Whether the job gets an output log: the command forms do, unless the task is
    ``no_log`` (its output must not be written anywhere but the job file, as with native
    async), or runs under Mitogen for Ansible (``mitogen``), whose async runner hangs
    importing a collection's module_utils, which async_command needs. The ``module``
    form runs another module, which writes no log."""
    return args['module'] is None and not no_log and not mitogen


# What the listing shows of a no_log task: its form, nothing of its arguments.
HIDDEN = '(hidden: no_log)'


def describe_job(args, module=None, no_log=False):
    """What the job runs, for async_jobs_info (recorded on the host when it starts):
    ``shell: <line>``, ``command: <line>`` (cmd and argv), ``script: <script and args>`` or
    ``module: <name>``; for a ``no_log`` task only the form, ``shell: (hidden: no_log)``:
    nothing of a no_log task's arguments is written on the host or listed."""
    if no_log:
        form = next((f for f in ('shell', 'cmd', 'argv', 'script') if args[f] is not None),
                    'module')
        return '%s: %s' % ('command' if form in ('cmd', 'argv') else form, HIDDEN)
    if args['shell'] is not None:
        return 'shell: %s' % args['shell']
    if args['cmd'] is not None:
        return 'command: %s' % args['cmd']
    if args['argv'] is not None:
        return 'command: %s' % ' '.join(shlex.quote(str(a)) for a in args['argv'])
    if args['script'] is not None:
        return 'script: %s' % args['script']
    return 'module: %s' % (module or args['module'])


# What a failed start tells the user of the job, beside its message (and nothing of the
# runner's own keys: action, reply, status, tmpdir_removed).
START_FAILURE_KEYS = ('ansible_job_id', 'job_started', 'jid_prefix', 'exception', 'attached')


def start_failure(found):
    """The task's failed result when a start did not attach to or start a job (the start
    runner or async_claim failed, or async_wrapper refused the job, or the start failed
    after the job started); None otherwise. It says what became of the job: ``job_started``
    (true: started, and ``ansible_job_id`` is it; false: nothing was started; None: cannot
    be told, ``jid_prefix`` says which job it would be)."""
    action = found.get('action')
    if action == 'failed':
        return dict(found.get('reply') or {}, failed=True, job_started=False)
    if action == 'refused':
        # The job policy on_running=fail: the name's job runs (or is being started).
        status = found.get('status') or {}
        return dict(failed=True, msg=found.get('msg'), job_started=False,
                    ansible_job_id=found.get('ansible_job_id'),
                    state=status.get('state', 'running'))
    if found.get('failed') or action not in ('attach', 'start', 'claimed'):
        result = dict((k, found[k]) for k in START_FAILURE_KEYS if k in found)
        result.update(failed=True, msg=found.get('msg') or 'the job could not be started')
        return result
    return None


def check_mode_result(found, alias):
    """The task result in check mode, from async_claim's ``prepare`` (which only reads):
    what the task would do, and the job's current status, with the keys documented as
    always returned; failed, as the run would fail, when the job policy refuses."""
    action = found['action']
    if action == 'attach':
        msg = 'would attach to job %s named %r' % (found['ansible_job_id'], alias)
    elif action == 'start':
        msg = 'would start a new job named %r' % alias
    elif action == 'restart':
        msg = ('would kill job %s named %r (on_running=restart) and start a new job'
               % (found['ansible_job_id'], alias))
    elif action == 'refused':
        msg = 'would fail: %s' % found.get('msg')
    else:
        msg = 'another run is starting the job named %r; would attach to it' % alias
    status = found.get('status') or {}
    result = native_prefill(found.get('ansible_job_id'))
    result.update(changed=action in ('start', 'restart'), msg=msg, ansible_job_alias=alias,
                  attached=action == 'attach' or action == 'claimed', state=status.get('state'),
                  started=bool(status.get('started')), finished=bool(status.get('finished')),
                  killed=bool(status.get('killed')), pid_missing=bool(status.get('pid_missing')),
                  results_file=status.get('results_file'))
    if action == 'refused':
        result['failed'] = True  # as the run would
    return native_types(result)


# The ``warning`` of a failed task, for playbooks written for the async_extra role (the
# role these modules descend from), which gave a failed job's result a ``warning`` and whose
# checks look for its first sentence. The rest says what happens to the job on the next run.
JOB_FAILED = 'The job has failed.'
NAME_RELEASED = 'Its name was released: the next run of this task starts the job again.'
NAME_KEPT = ('Its name still holds it: a run of this task that waits for it returns this '
             'outcome again (on_finished restart or restart_failed starts it again instead); '
             'release the name (asyncjobs.named.async_status_id with mode=cleanup) to run the '
             'job again.')
STILL_RUNNING = ('The job did not finish within the wait. It still runs under its name: the '
                 'next run of this task attaches to it.')


def compat_warning(result):
    """The ``warning`` for async_task's ``result`` (the job's result with the task's keys),
    or None: only a failed task about a job (``state`` known) gets one. A job that finished
    failed (failed, timed out, killed, orphaned) gets ``JOB_FAILED`` and what became of its
    name (``released``); a job still running when the wait budget was spent gets
    ``STILL_RUNNING``."""
    if not result.get('failed'):
        return None
    state = result.get('state')
    if state == RUNNING:
        return STILL_RUNNING
    if state not in FINISHED_STATES or state == SUCCEEDED:
        return None
    return '%s %s' % (JOB_FAILED, NAME_RELEASED if result.get('released') else NAME_KEPT)


def task_result(result, job_result, alias, attached, **extra):
    """``result`` (the action's own) updated with the job's result and the task's keys."""
    result.update(job_result)
    result.update(ansible_job_alias=alias, attached=attached, **extra)
    return result


def job_task_result(result, job_result, alias, attached, **extra):
    """``task_result`` for a task that started or attached to a job, with the ``warning``
    of ``compat_warning`` when it failed."""
    result = task_result(result, job_result, alias, attached, **extra)
    warning = compat_warning(result)
    if warning:
        result['warning'] = warning
    return result


# --- fork batches ---------------------------------------------------------------------------


def fork_batches(hosts, forks, throttle=0):
    """How many batches ``hosts`` hosts run in, one after the other, when at most ``forks``
    run at once, or ``throttle`` when it is set (> 0) and smaller: the strategy queues a
    host's task only when a fork is free (and fewer than ``throttle`` hosts run it)."""
    at_once = min(forks, throttle) if throttle and throttle > 0 else forks
    return int(math.ceil(hosts / float(at_once))) if hosts > 0 and at_once > 0 else 1


def fork_batch_warning(play_hosts, forks, throttle, host, task_name=None):
    """The warning of an async_task with a wait budget that runs on more hosts than can
    run at once, or None.

    ``play_hosts``: the hosts of the current play batch that run the task
    (``ansible_play_batch``: ``serial`` already limits it, failed hosts are out);
    ``forks``: the ``forks`` setting (None: unknown, no warning); ``throttle``: the
    task's keyword (0 or None: not set); ``host``: the host this run is for. Each host
    runs the action in its own worker process: only the first host of ``play_hosts``
    says it, and the text names no host, so the task has one warning."""
    play_hosts = list(play_hosts or ())
    if not forks or not play_hosts or host != play_hosts[0]:
        return None
    batches = fork_batches(len(play_hosts), forks, throttle)
    if batches <= 1:
        return None
    if throttle and 0 < throttle < forks:
        limit = 'throttle %d (forks %d)' % (throttle, forks)
    else:
        limit = 'forks %d' % forks
    return ('async_task%s waits on each host in its fork: %d hosts with %s run in %d batches, '
            'one after the other, so the task lasts about %d times the job. To wait on all '
            'hosts at once, start the job without a wait budget (no retries or timeout), then '
            'wait in a second task with asyncjobs.named.async_wait and the same alias (see the '
            'Fleets guide). fork_batches_warning: false silences this.'
            % (' %r' % task_name if task_name else '', len(play_hosts), limit, batches, batches))


def warn_fork_batches(args, task, task_vars):
    """Display fork_batch_warning for this run of the task, when it has a wait budget, is
    not in check mode (where it returns at once) nor ``run_once``, and the option
    ``fork_batches_warning`` is on; the numbers from ``task_vars``, the CLI's ``forks``
    (as ansible-playbook gives them to its strategy, also under ansible-runner and AWX)
    and the task. A loop's items run in the host's one worker process, one after the
    other: only the first says it (``_WARNED``, that process's tasks)."""
    if (not args.get('fork_batches_warning', True) or task.check_mode or task.run_once
            or not wait_budget(args) or task._uuid in _WARNED):
        return None
    text = fork_batch_warning(task_vars.get('ansible_play_batch'), context.CLIARGS.get('forks'),
                              task.throttle, task_vars.get('inventory_hostname'),
                              task_name=task.get_name())
    if text:
        _WARNED.add(task._uuid)
        display.warning(text)
    return text


# The tasks whose warning this worker process gave (one per host and task: its loop items).
_WARNED = set()
