# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How async_task starts a named job in one remote command (private).

Native async (``async: N``, ``poll: 0``) starts a job through ``ActionBase._execute_module``
with ``wrap_async=True``: it makes the remote tmp dir, transfers the module and
async_wrapper, fixes their permissions and runs one command,
``[env] python <tmp>/async_wrapper.py <jid-prefix> <limit> <tmp>/AnsiballZ_x.py ...``.

async_task lets ansible-core do all of that, on every supported version, with two changes
made here, on this action instance only, while the job is being started:

* the wrapper command is not run as it is: the command run instead is the internal
  module ``asyncjobs.named.async_claim`` (``mode: start``), piped on stdin when pipelining
  is on (else transferred next to the job's files), with the wrapper command in the
  environment variable ``WRAPPER_ENV``. On the host, that one Python process takes the
  name's lock, decides whether to attach or to start, claims the name, runs the wrapper
  command exactly as Ansible would have, names the job, and reads (or waits for) its
  status;
* the permission fix-up (``chmod u+rwx`` of the tmp dir and its files, one more remote
  command) is done by that module on the host, unless the task becomes an unprivileged
  user: then Ansible's own fix-up runs (ACLs and the like), our payload included.

So a start costs the commands of a native start minus one; the transfers are native's,
plus our payload when pipelining is off. Where ansible-core's own ``_execute_module`` is
not the one in use (Mitogen for Ansible replaces it), ``one_step_supported`` is false and
async_task starts in several steps instead.
"""

from __future__ import annotations

import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.asyncjobs.named.plugins.module_utils._async_control import WRAPPER_ENV

CLAIM_MODULE = 'asyncjobs.named.async_claim'
WRAPPER_NAME = 'async_wrapper.py'


def one_step_supported(action):
    """True when ``action`` starts async jobs with ansible-core's own machinery (and a POSIX
    shell), which the one-step start hooks into."""
    connection = action._connection
    return (type(action)._execute_module is ActionBase._execute_module
            and type(action)._low_level_execute_command is ActionBase._low_level_execute_command
            and not getattr(connection, 'always_pipeline_modules', False)
            and not getattr(connection._shell, '_IS_WINDOWS', False))


def configure_module(action, name, module_args, task_vars):
    """(shebang, payload bytes) of module ``name`` with ``module_args`` embedded, on every
    ansible-core: ``_configure_module`` returns a 4-tuple before 2.19, (bits, path) after."""
    built = action._configure_module(module_name=name, module_args=module_args,
                                     task_vars=task_vars)
    if len(built) == 4:
        _style, shebang, data, _path = built
    else:
        bits, _path = built
        shebang, data = bits.shebang, bits.b_module_data
    if isinstance(data, str):
        data = data.encode('utf-8')
    return shebang, data


class OneStepStart:
    """Start a job with ``action._execute_module(wrap_async=True)``, with the wrapper
    command replaced by ``async_claim mode=start`` (see the module docstring).

    ``claim_args`` are that module's arguments (alias, token, waiting, wait, ...); the
    tmp dir, the paths to make executable and whether to remove the tmp dir are added
    here. ``run()`` returns the module's result.
    """

    def __init__(self, action, task_vars, claim_args):
        self.action = action
        self.task_vars = task_vars
        self.claim_args = dict(claim_args)
        self.deferred = []      # paths whose chmod u+rwx the module does
        self.payload = None     # (shebang, bytes) of our module
        self.remote_payload = None
        self.state = 'idle'     # 'ready' once the wrapper's files are in place, then 'fired'
        self.tmpdir = None      # the job's remote tmp dir
        self.keep_tmp = False   # whether Ansible keeps it (keep_remote_files)
        self.unprivileged = action._is_become_unprivileged()
        self.pipelining = action._is_pipelining_enabled('new')

    # -- hooks (instance attributes, so only this action instance is affected) ---------

    def _fixup_perms2(self, remote_paths, remote_user=None, execute=True):
        paths = [p for p in remote_paths if p]
        is_async = any(p.endswith(WRAPPER_NAME) for p in paths)
        if is_async and self.state == 'idle':
            self._prepare_payload(paths)
            if self.remote_payload:
                paths.append(self.remote_payload)
        if self.unprivileged or not execute:
            result = self._orig_fixup(paths, remote_user=remote_user, execute=execute)
        else:
            # chmod u+rwx, as Ansible's fix-up does here, but on the host by our module.
            self.deferred.extend(p for p in paths if p not in self.deferred)
            result = paths
        if is_async and self.state == 'idle':
            self.state = 'ready'
        return result

    def _low_level_execute_command(self, cmd, *args, **kwargs):
        if self.state != 'ready':
            return self._orig_execute(cmd, *args, **kwargs)
        self.state = 'fired'
        if WRAPPER_NAME not in cmd:
            raise AnsibleActionFail('asyncjobs.named: unexpected command where the async_wrapper '
                                    'command was due: %s' % cmd)
        shebang, data = self.payload
        env = self.action._compute_environment_string()
        env = ('%s %s' % (env, '%s=%s' % (WRAPPER_ENV, shlex.quote(cmd)))).strip()
        new_cmd = self.action._connection._shell.build_module_command(
            env, shebang, '' if self.pipelining else self.remote_payload).strip()
        if len(args) >= 2:
            args = (args[0], data if self.pipelining else None) + tuple(args[2:])
        else:
            kwargs['in_data'] = data if self.pipelining else None
        return self._orig_execute(new_cmd, *args, **kwargs)

    # -- the payload --------------------------------------------------------------------------

    def _prepare_payload(self, async_paths):
        action = self.action
        shell = action._connection._shell
        tmpdir = self.tmpdir = shell.tmpdir
        self.keep_tmp = not action._should_remove_tmp_path(tmpdir)
        args = dict(self.claim_args, mode='start', tmpdir=tmpdir,
                    remove_tmp=not self.keep_tmp and not self.unprivileged,
                    chmod=[] if self.unprivileged else self.deferred + [
                        p for p in async_paths if p not in self.deferred])
        action._update_module_args(CLAIM_MODULE, args, self.task_vars)
        self.payload = configure_module(action, CLAIM_MODULE, args, self.task_vars)
        if not self.pipelining:
            self.remote_payload = shell.join_path(tmpdir, 'AnsiballZ_async_claim.py')
            action._transfer_data(self.remote_payload, self.payload[1])

    def remove_unused_tmpdir(self, result):
        """Remove the job's tmp dir from the controller when no job was started in it and
        the module could not remove it (it runs as an unprivileged become user, and the
        dir belongs to the login user): one more remote command, on that path only."""
        if (self.tmpdir and not self.keep_tmp and result.get('action') != 'start'
                and not result.get('tmpdir_removed')):
            self.action._remove_tmp_path(self.tmpdir, force=True)

    # -- running it ---------------------------------------------------------------------------

    def run(self, module_call):
        """Start the task's async job (``action._task.async_val`` is its limit) through
        async_claim; return async_claim's result. ``module_call()`` gives the job's (module
        name, module args); it runs with the hooks in place, so that the permission fix-up
        of files it transfers (a script) is deferred to the host too."""
        action = self.action
        self._orig_fixup = action._fixup_perms2
        self._orig_execute = action._low_level_execute_command
        action._fixup_perms2 = self._fixup_perms2
        action._low_level_execute_command = self._low_level_execute_command
        try:
            module_name, module_args = module_call()
            result = action._execute_module(module_name=module_name, module_args=module_args,
                                            task_vars=self.task_vars, wrap_async=True)
        finally:
            del action._fixup_perms2
            del action._low_level_execute_command
        if self.state != 'fired':
            raise AnsibleActionFail('asyncjobs.named: ansible-core did not run the async_wrapper '
                                    'command through the one-step start; nothing was started')
        return result
