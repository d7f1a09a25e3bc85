# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of asyncjobs.named.async_task: start a named job exactly once, or
attach to it, and optionally wait for it.

Only the controller's work is here: finding the module or script, transferring a script,
starting the job (plugin_utils/_start.py), the steps of a start where that is not
possible, and waiting. The pure parts are in plugin_utils/_task.py.
"""

from __future__ import annotations

import shlex
import time
import uuid

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.entries import output_log_name
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import (
    CLAIM_ENV, CLAIM_STALE_AFTER, SLICE_SECONDS, TASK_SPEC)
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    AsyncJobsAction, action_fail, job_result, under_mitogen, wait_budget)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import failpoints as _failpoints
from ansible_collections.asyncjobs.named.plugins.plugin_utils._mitogen import (
    fixed_job_id, mitogen_job_id)
from ansible_collections.asyncjobs.named.plugins.plugin_utils._start import (
    OneStepStart, one_step_supported)
from ansible_collections.asyncjobs.named.plugins.plugin_utils._task import (
    PLAIN_ACTION_MODULES, check_mode_result, describe_job, module_call, option_error,
    job_task_result, output_log_of, start_failure, task_result, warn_fork_batches)


class ActionModule(AsyncJobsAction):

    _supports_check_mode = True
    rerun_does = 'attaches to it (or async_wait with its name waits for it)'

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self.validated_args(TASK_SPEC)
        error = option_error(args)
        if error:
            raise action_fail(error)
        budget = wait_budget(args)
        waiting = budget is not None
        warn_fork_batches(args, self._task, task_vars)
        job_tails = self.tail_lines(args)
        alias = args['alias']
        token = uuid.uuid4().hex
        # Refuse what cannot be run before the name is claimed (and in check mode too).
        job = dict(module=None, script=None)
        if args['module'] is not None:
            job['module'] = self._plain_module(args['module'])
        if args['script'] is not None:
            job['script'] = self._find_script(args['script'])
        # The command forms' output log: named by this run's token, so that the start
        # names it before the job exists; the job's meta record says which log is its own.
        job['output'] = (output_log_name(token) if output_log_of(
            args, self._task.no_log, mitogen=under_mitogen(self)) else None)

        if self._task.check_mode:
            found = self._prepare(alias, token, waiting, task_vars, policies=args)
            result.update(check_mode_result(found, alias))
            return result
        began = time.time()
        if one_step_supported(self):
            first = self._start_one_step(args, job, token, budget, job_tails, task_vars)
        else:
            first = self._start_in_steps(args, job, token, waiting, job_tails, task_vars)
        if first.get('failed') or first.get('unreachable'):
            return task_result(result, first, alias=alias, attached=first.pop('attached', False))
        attached = first['action'] == 'attach'
        status = first['status']
        jid = first['ansible_job_id']
        extra = dict((k, first[k]) for k in ('replaced',) if first.get(k))
        if not waiting:
            status.pop('changed', None)
            return job_task_result(result, job_result(jid, status), alias=alias,
                                   attached=attached, changed=not attached, **extra)
        waited = self.wait_job(task_vars, budget, args['cleanup'], jid=jid, alias=alias,
                               first=status, began=began, tail_lines=job_tails)
        return job_task_result(result, waited, alias=alias, attached=attached, **extra)

    # -- the two ways to start ---------------------------------------------------------

    def _start_one_step(self, args, job, token, budget, tail_lines, task_vars):
        """Attach or start in one remote command (plugin_utils/_start.py); with a wait
        budget, the first slice of the wait happens in that command too.

        Returns the start runner's result (``action`` attach or start, ``status``), or a
        failed result."""
        waiting = budget is not None
        deadline = time.time() + CLAIM_STALE_AFTER + 2 * SLICE_SECONDS
        while True:
            claim_args = dict(alias=args['alias'], token=token, waiting=waiting,
                              wait=min(SLICE_SECONDS, budget) if waiting else 0.0,
                              cleanup=args['cleanup'], _async_dir=self.async_dir(),
                              hold=max(0.0, min(SLICE_SECONDS, deadline - time.time())),
                              what=describe_job(args, job['module'], self._task.no_log),
                              output=job['output'],
                              tail_lines=tail_lines, on_running=args['on_running'],
                              on_finished=args['on_finished'])
            limits = dict((k, v) for k, v in (args.get('limits') or {}).items() if v is not None)
            if limits:
                claim_args['limits'] = limits
            failpoints = self.failpoints()
            if failpoints:
                claim_args['_failpoints'] = failpoints
            starter = OneStepStart(self, task_vars, claim_args)
            try:
                found = self._start(args, job, task_vars, starter=starter)
            except AnsibleConnectionFailure as e:
                # Unreachable, as ansible-core says it, but naming the job (start header).
                return starter.lost(e, task_vars.get('inventory_hostname', 'the host'))
            if 'action' not in found and 'job_started' not in found:
                found = starter.unreported(found)  # the runner died, or its output was lost
            starter.remove_unused_tmpdir(found)
            failure = start_failure(found)
            if failure:
                return failure
            if found['action'] != 'claimed':
                return found
            if time.time() >= deadline:
                raise action_fail('another run has been starting the job named %r for %s s and '
                                  'has not finished; try again later'
                                  % (args['alias'], found.get('claim_age')))

    def _start_in_steps(self, args, job, token, waiting, tail_lines, task_vars):
        """Claim (async_claim prepare), start the job through ``_execute_module``, then name
        it (async_claim bind) and read its status: where the one-step start is not possible
        (Mitogen for Ansible replaces ``_execute_module``)."""
        alias = args['alias']
        if any(v is not None for v in (args.get('limits') or {}).values()):
            raise action_fail('limits need the one-step start of async_task, which puts the job '
                              'in a cgroup of its own; it is not available here (Mitogen for '
                              'Ansible starts jobs itself). Nothing was started')
        # Under Mitogen the controller chooses the job's id: the claim records it before
        # the start, so that a re-run finds the job by its file even after it ended.
        expected = mitogen_job_id(token) if under_mitogen(self) else None
        try:
            found = self._prepare(alias, token, waiting, task_vars, expected_jid=expected,
                                  policies=args)
        except Exception:
            # The claim may have been written before the step failed (its module killed):
            # give it up if it is this run's, or the next run would wait for it in vain.
            try:
                self._claim('abandon', alias, token, task_vars)
            except Exception:  # pylint: disable=broad-except
                pass  # the host is unreachable: the claim goes stale in 60 s
            raise
        failure = start_failure(found)
        if failure:
            return failure
        if found['action'] == 'attach':
            jid = found['ansible_job_id']
        else:
            try:
                started = self._start(args, job, task_vars, token=token, expected_jid=expected)
            except Exception:
                # Do not leave the claim behind: the next run would wait for it in vain.
                self._claim('abandon', alias, token, task_vars)
                raise
            if started.get('failed') or not started.get('ansible_job_id'):
                self._claim('abandon', alias, token, task_vars)
                return dict(started, failed=True,
                            msg=started.get('msg') or 'the job could not be started')
            jid = started['ansible_job_id']
            _failpoints.failpoint('after-wrapper', jid=jid)
            self._bind(alias, token, jid, task_vars,
                       what=describe_job(args, job['module'], self._task.no_log),
                       output=job['output'])
        status = None
        if not waiting:
            # The job's status as the one-step start returns it: async_wait without waiting
            # adds the progress keys (running_for, the output's tails) to async_status_id's.
            status = self.run_module('async_wait', dict(jid=jid, _slice=0, cleanup=False,
                                                        tail_lines=tail_lines), task_vars)
            status.pop('released', None)
        return dict(action=found['action'], ansible_job_id=jid, status=status,
                    **dict((k, found[k]) for k in ('replaced',) if k in found))

    # -- steps ----------------------------------------------------------------------------

    def _bind(self, alias, token, jid, task_vars, **extra):
        """Name the job just started (async_claim bind). When that fails, the claim is not
        left to go stale: it records the job (async_claim abandon with the jid), so that
        the next run names that job and attaches to it at once, and never starts a second
        one; then the task fails, saying so."""
        try:
            return self._claim('bind', alias, token, task_vars, jid=jid, **extra)
        except Exception as e:  # a failed bind (AnsibleActionFail), or a lost connection
            why = to_text(getattr(e, 'message', None) or e)
            try:
                kept = self._claim('abandon', alias, token, task_vars, jid=jid).get('recorded')
            except Exception:  # the host is unreachable: the claim stays as it is
                kept = None
            raise action_fail(
                'job %s was started, but naming it %r failed: %s. %s' % (
                    jid, alias, why,
                    'The claim records the job: the next run names it and attaches to it.'
                    if kept else 'The claim could not be updated: the next run finds the job '
                    'by the claim token in its environment while it runs.'),
                result=dict(ansible_job_id=jid, ansible_job_alias=alias))

    def _claim(self, mode, alias, token, task_vars, **extra):
        res = self.run_module('async_claim', dict(alias=alias, token=token, mode=mode, **extra),
                              task_vars)
        if res.get('failed'):
            raise action_fail(res.get('msg', 'async_claim failed'), result=res)
        return res

    def _prepare(self, alias, token, waiting, task_vars, expected_jid=None, policies=None):
        """Attach or claim (recording the job id the job will have, when it is known before
        the start), by the job policies of ``policies`` (the task's arguments); while another
        run holds a fresh claim, wait for it (bounded)."""
        deadline = time.time() + CLAIM_STALE_AFTER + 2 * SLICE_SECONDS
        policies = dict((k, (policies or {}).get(k)) for k in ('on_running', 'on_finished'))
        while True:
            hold = max(0.0, min(SLICE_SECONDS, deadline - time.time()))
            found = self._claim('prepare', alias, token, task_vars, waiting=waiting, hold=hold,
                                jid=expected_jid, **policies)
            if found['action'] != 'claimed' or self._task.check_mode:
                return found
            if time.time() >= deadline:
                raise action_fail('another run has been starting the job named %r for %s s and '
                                  'has not finished; try again later'
                                  % (alias, found.get('claim_age')))

    def _plain_module(self, name):
        loader = self._shared_loader_obj
        context = loader.module_loader.find_plugin_with_context(
            name, collection_list=self._task.collections)
        if not context.resolved:
            raise action_fail('module %r was not found' % name)
        fqcn = context.resolved_fqcn
        if fqcn not in PLAIN_ACTION_MODULES and (
                loader.action_loader.has_plugin(fqcn, collection_list=self._task.collections)
                or loader.action_loader.has_plugin(name, collection_list=self._task.collections)):
            raise action_fail(
                'module %r has a controller-side action plugin, which async_task cannot run as '
                'a job; use shell, cmd, argv or script, or a module without an action plugin'
                % name)
        return fqcn

    def _find_script(self, script):
        """(local path, argv as given) of the script."""
        try:
            parts = shlex.split(script)
        except ValueError as e:
            raise action_fail('script: cannot split %r: %s' % (script, e))
        if not parts:
            raise action_fail('script must name a local script file')
        try:
            source = self._find_needle('files', parts[0])
        except AnsibleError as e:
            raise action_fail(to_text(e))
        return source, parts

    def _transfer_script(self, source, parts):
        """Copy the local script to the remote tmp dir; return the argv to run it."""
        tmp = self._connection._shell.tmpdir or self._make_tmp_path()
        remote = self._connection._shell.join_path(tmp, parts[0].split('/')[-1])
        self._transfer_file(source, remote)
        self._fixup_perms2((tmp, remote), execute=True)
        return [remote] + parts[1:]

    def _module_call(self, args, job):
        script_argv = self._transfer_script(*job['script']) if job['script'] else None
        # The log's name only: async_command puts it in the async dir by the rule of the
        # runner that runs it (async_wrapper or Mitogen's), beside the job file.
        return module_call(args, module=job['module'], script_argv=script_argv,
                           output_log=job['output'])

    def _start(self, args, job, task_vars, token=None, starter=None, expected_jid=None):
        """Start the job through Ansible's own async machinery (async_wrapper), in a
        remote tmp dir of its own that the wrapper removes when the job ends; with
        ``starter`` (a OneStepStart) in one remote command with its claim and naming.

        The async reply tells the plugin to keep its tmp dir (the job's, which the wrapper
        removes itself); the plugin's own tmp dir is still removed when the task ends."""
        shell = self._connection._shell
        saved_tmp, saved_async = shell.tmpdir, self._task.async_val
        saved_cleanup = self._cleanup_remote_tmp
        shell.tmpdir = None
        self._task.async_val = args['async']
        claim_env = None
        if starter is None:
            # The claim's token, for finding the job if this run dies before naming it.
            claim_env = {CLAIM_ENV: token}
            self._task.environment.append(claim_env)
        try:
            if starter is not None:
                return starter.run(lambda: self._module_call(args, job))
            name, margs = self._module_call(args, job)
            with fixed_job_id(expected_jid):
                return self._execute_module(module_name=name, module_args=margs,
                                            task_vars=task_vars, wrap_async=True)
        finally:
            if claim_env is not None:
                self._task.environment.remove(claim_env)
            self._task.async_val = saved_async
            shell.tmpdir = saved_tmp
            self._cleanup_remote_tmp = saved_cleanup
