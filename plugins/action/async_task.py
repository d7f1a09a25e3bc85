# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of asyncjobs.named.async_task: start a named job exactly once, or
attach to it, and optionally wait for it."""

from __future__ import annotations

import shlex
import time
import uuid

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.asyncjobs.named.plugins.module_utils._async_control import (
    CLAIM_ENV, CLAIM_STALE_AFTER)
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    SLICE_SECONDS, AsyncJobsAction, action_fail, native_prefill, native_types, wait_budget)

COMMAND_OPTIONS = ('chdir', 'executable', 'creates', 'removes', 'stdin', 'stdin_add_newline',
                   'strip_empty_ends')
FORMS = ('shell', 'cmd', 'argv', 'script', 'module')
# Modules whose action plugin adds nothing that matters to a plain async run.
PLAIN_ACTION_MODULES = ('ansible.builtin.command', 'ansible.legacy.command')

ARGUMENT_SPEC = {
    'alias': dict(type='str', required=True),
    # The job's time limit in seconds, as the task keyword async means it.
    'async': dict(type='int', required=True),
    'shell': dict(type='str'),
    'cmd': dict(type='str'),
    'argv': dict(type='list', elements='str'),
    'script': dict(type='str'),
    'module': dict(type='str'),
    'module_args': dict(type='dict'),
    'chdir': dict(type='path'),
    'executable': dict(type='path'),
    'creates': dict(type='path'),
    'removes': dict(type='path'),
    'stdin': dict(type='str'),
    'stdin_add_newline': dict(type='bool', default=True),
    'strip_empty_ends': dict(type='bool', default=True),
    'retries': dict(type='int'),
    'delay': dict(type='float', default=5.0),
    'timeout': dict(type='float'),
    'cleanup': dict(type='bool', default=True),
}
CONSTRAINTS = dict(
    mutually_exclusive=[FORMS, ('timeout', 'retries')],
    required_one_of=[FORMS],
    required_by=dict(module_args='module'),
)


class ActionModule(AsyncJobsAction):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self.validated_args(ARGUMENT_SPEC, **CONSTRAINTS)
        if args['async'] <= 0:
            raise AnsibleActionFail('async must be a positive number of seconds (the job\'s '
                                    'time limit), not %s' % args['async'])
        if args['module'] is not None:
            given = [o for o in COMMAND_OPTIONS if args[o] is not None
                     and o not in ('stdin_add_newline', 'strip_empty_ends')]
            if given:
                raise AnsibleActionFail('%s %s only to shell, cmd, argv and script; give a '
                                        'module its options in module_args'
                                        % (', '.join(given), 'applies' if len(given) == 1 else 'apply'))
        budget = wait_budget(args)
        waiting = budget is not None
        alias = args['alias']
        token = uuid.uuid4().hex
        # Refuse what cannot be run before the name is claimed (and in check mode too).
        job = dict(module=None, script=None)
        if args['module'] is not None:
            job['module'] = self._plain_module(args['module'], task_vars)
        if args['script'] is not None:
            job['script'] = self._find_script(args['script'])

        found = self._prepare(alias, token, waiting, task_vars)
        if self._task.check_mode:
            return self._check_mode_result(result, found, alias)

        attached = found['action'] == 'attach'
        if attached:
            jid = found['ansible_job_id']
        else:
            try:
                started = self._start(args, job, token, task_vars)
            except Exception:
                # Do not leave the claim behind: the next run would wait for it in vain.
                self._claim('abandon', alias, token, task_vars)
                raise
            if started.get('failed') or not started.get('ansible_job_id'):
                self._claim('abandon', alias, token, task_vars)
                started.setdefault('msg', 'the job could not be started')
                return merge(result, started, alias=alias, attached=False)
            jid = started['ansible_job_id']
            self._claim('bind', alias, token, task_vars, jid=jid)

        if not waiting:
            status = self.run_module('async_status_id', dict(jid=jid), task_vars)
            status.pop('changed', None)
            return merge(result, native_types(merge_hash_safe(native_prefill(jid), status)),
                         alias=alias, attached=attached, changed=not attached)
        waited = self.wait_job(task_vars, budget, args['cleanup'], jid=jid, alias=alias)
        return merge(result, waited, alias=alias, attached=attached)

    # -- steps -------------------------------------------------------------

    def _claim(self, mode, alias, token, task_vars, **extra):
        res = self.run_module('async_claim', dict(alias=alias, token=token, mode=mode, **extra),
                              task_vars)
        if res.get('failed'):
            raise AnsibleActionFail(res.get('msg', 'async_claim failed'), result=res)
        return res

    def _prepare(self, alias, token, waiting, task_vars):
        """Attach or claim; while another run holds a fresh claim, wait for it (bounded)."""
        deadline = time.time() + CLAIM_STALE_AFTER + 2 * SLICE_SECONDS
        while True:
            hold = max(0.0, min(SLICE_SECONDS, deadline - time.time()))
            found = self._claim('prepare', alias, token, task_vars, waiting=waiting, hold=hold)
            if found['action'] != 'claimed' or self._task.check_mode:
                return found
            if time.time() >= deadline:
                raise AnsibleActionFail('another run has been starting the job named %r for %s s '
                                        'and has not finished; try again later'
                                        % (alias, found.get('claim_age')))

    def _check_mode_result(self, result, found, alias):
        action = found['action']
        if action == 'attach':
            msg = 'would attach to job %s named %r' % (found['ansible_job_id'], alias)
        elif action == 'start':
            msg = 'would start a new job named %r' % alias
        else:
            msg = 'another run is starting the job named %r; would attach to it' % alias
        status = found.get('status') or {}
        # The keys documented as always returned are there in check mode too.
        result.update(native_prefill(found.get('ansible_job_id')))
        result.update(changed=action == 'start', msg=msg, ansible_job_alias=alias,
                      attached=action != 'start', state=status.get('state'),
                      started=bool(status.get('started')), finished=bool(status.get('finished')),
                      results_file=status.get('results_file'))
        return native_types(result)

    def _module_call(self, args, job):
        """(module name, module args) of the job."""
        if job['module'] is not None:
            return job['module'], dict(args['module_args'] or {})
        margs = dict((o, args[o]) for o in COMMAND_OPTIONS if args[o] is not None)
        if args['shell'] is not None:
            margs.update(_raw_params=args['shell'], _uses_shell=True)
        elif args['cmd'] is not None:
            margs.update(_raw_params=args['cmd'])
        elif args['argv'] is not None:
            margs.update(argv=args['argv'])
        else:
            margs.pop('executable', None)
            argv = self._transfer_script(*job['script'])
            if args['executable']:
                argv.insert(0, args['executable'])
            margs.update(argv=argv)
        return 'ansible.legacy.command', margs

    def _plain_module(self, name, task_vars):
        loader = self._shared_loader_obj
        context = loader.module_loader.find_plugin_with_context(
            name, collection_list=self._task.collections)
        if not context.resolved:
            raise AnsibleActionFail('module %r was not found' % name)
        fqcn = context.resolved_fqcn
        if fqcn not in PLAIN_ACTION_MODULES and (
                loader.action_loader.has_plugin(fqcn, collection_list=self._task.collections)
                or loader.action_loader.has_plugin(name, collection_list=self._task.collections)):
            raise AnsibleActionFail(
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
            raise AnsibleActionFail('script must name a local script file')
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

    def _start(self, args, job, token, task_vars):
        """Start the job through Ansible's own async machinery (async_wrapper), in a
        remote tmp dir of its own that the wrapper removes when the job ends, with the
        claim token in its environment.

        The async reply tells the plugin to keep its tmp dir (the job's, which the wrapper
        removes itself); the plugin's own tmp dir is still removed when the task ends."""
        shell = self._connection._shell
        saved_tmp, saved_async = shell.tmpdir, self._task.async_val
        saved_cleanup = self._cleanup_remote_tmp
        environment = self._task.environment
        shell.tmpdir = None
        self._task.async_val = args['async']
        environment.append({CLAIM_ENV: token})
        try:
            name, margs = self._module_call(args, job)
            return self._execute_module(module_name=name, module_args=margs,
                                        task_vars=task_vars, wrap_async=True)
        finally:
            environment.remove({CLAIM_ENV: token})
            self._task.async_val = saved_async
            shell.tmpdir = saved_tmp
            self._cleanup_remote_tmp = saved_cleanup


def merge_hash_safe(base, extra):
    merged = dict(base)
    merged.update(extra)
    return merged


def merge(result, job_result, alias, attached, **extra):
    result.update(job_result)
    result.update(ansible_job_alias=alias, attached=attached, **extra)
    return result
