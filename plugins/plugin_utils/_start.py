# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How async_task starts a named job in one remote command (private).

Native async (``async: N``, ``poll: 0``) starts a job through ``ActionBase._execute_module``
with ``wrap_async=True``: it makes the remote tmp dir, transfers the module and
async_wrapper, fixes their permissions and runs one command,
``[env] python <tmp>/async_wrapper.py <jid-prefix> <limit> <tmp>/AnsiballZ_x.py ...``.

async_task lets ansible-core do all of that, on every supported version, with three changes
made here, on this action instance only, while the job is being started:

* the wrapper command is not run as it is. The command run instead is the *start
  runner*: a small Python program (the host-side module_utils it imports, compressed,
  with a loader of a few lines and the arguments, see ``runner_source``), piped on stdin
  when pipelining is on (else transferred next to the job's files), with the wrapper
  command in the environment variable ``WRAPPER_ENV``. On the host, that one Python
  process takes the name's lock, decides whether to attach or to start, claims the name,
  runs the wrapper command exactly as Ansible would have, names the job, and reads (or
  waits for) its status (``_async_start.start_named_job``). It is not an Ansible module:
  an AnsiballZ payload would cost a second interpreter start-up with ansible's own
  module_utils, about as much again as the async_wrapper it runs;
* the permission fix-up (``chmod u+rwx`` of the tmp dir and its files, one more remote
  command) is done by the runner on the host, unless the task becomes an unprivileged
  user: then Ansible's own fix-up runs (ACLs and the like), the runner's file included;
* the remote tmp dir (``remote_tmp``, ``~/.ansible/tmp``) is not expanded with a command
  of its own (``echo ~user``) before the command that makes the job's tmp dir: that
  command expands it on the host anyway, as the user it runs as (the login user, as for
  the expansion), and ansible-core takes the dir it echoes.

So a start costs the commands of a native start minus two; the transfers are native's,
plus the runner when pipelining is off. Where ansible-core's own ``_execute_module`` is
not the one in use (Mitogen for Ansible replaces it), ``one_step_supported`` is false and
async_task starts in several steps instead.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import zlib

from ansible.plugins.action import ActionBase

from ansible_collections.asyncjobs.named.plugins.module_utils import _async_specs
from ansible_collections.asyncjobs.named.plugins.module_utils._async_specs import WRAPPER_ENV
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    action_fail, under_mitogen)

WRAPPER_NAME = 'async_wrapper.py'
RUNNER_NAME = 'asyncjobs_named_start.py'
PACKAGE = 'ansible_collections.asyncjobs.named.plugins.module_utils'

# The start runner. Python 3.6 compatible: it runs on the target, with the interpreter of
# the job. Only the standard library and our own module_utils (which use nothing else);
# binascii (built in) rather than base64, and traceback only on a failure: each import
# is paid on every start on every host.
RUNNER_TEMPLATE = '''\
import binascii, json, sys, zlib
SOURCES = json.loads(zlib.decompress(binascii.a2b_base64(%(sources)r)).decode('utf-8'))
PACKAGE = %(package)r
ModuleSpec = type(sys.__spec__)  # importlib's, without importing importlib's modules


class Loader(object):
    """Imports the collection's module_utils from SOURCES, and their parent packages."""

    def find_spec(self, name, path=None, target=None):
        if name in SOURCES or PACKAGE.startswith(name + '.') or name == PACKAGE:
            return ModuleSpec(name, self, is_package=name not in SOURCES)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if module.__name__ not in SOURCES:
            module.__path__ = []
            return
        code = compile(SOURCES[module.__name__], '<%%s>' %% module.__name__, 'exec')
        exec(code, module.__dict__)


sys.meta_path.insert(0, Loader())
try:
    from ansible_collections.asyncjobs.named.plugins.module_utils._async_start import (
        start_main)
    result = start_main(json.loads(%(args)r))
except Exception as e:
    import traceback
    result = dict(failed=True, msg='%%s: %%s' %% (type(e).__name__, e),
                  exception=traceback.format_exc())
sys.stdout.write(json.dumps(result))
'''

_sources = None
IMPORT_RE = re.compile(r'^\s*from %s\.(_async_\w+) import' % re.escape(PACKAGE), re.M)


def runner_closure(read):
    """{module name: source} of ``_async_start`` and the module_utils it imports, directly
    or not: what the runner can import. ``read(name)`` returns a module_utils file's source."""
    found, todo = {}, ['_async_start']
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = read(name)
        todo.extend(IMPORT_RE.findall(found[name]))
    return dict(('%s.%s' % (PACKAGE, name), src) for name, src in found.items())


def runner_sources():
    """The runner's module_utils (``runner_closure``), compressed and encoded, built once
    per process. zlib's fastest level: a worker builds them once per host, and level 9
    costs about 8 ms more for a fifth fewer bytes on a pipe."""
    global _sources
    if _sources is None:
        directory = os.path.dirname(os.path.abspath(_async_specs.__file__))

        def read(name):
            with open(os.path.join(directory, name + '.py'), encoding='utf-8') as f:
                return f.read()
        found = runner_closure(read)
        _sources = base64.b64encode(zlib.compress(json.dumps(found).encode('utf-8'), 1)).decode()
    return _sources


def runner_source(args):
    """The start runner's source, with ``args`` (for start_main) in it."""
    return RUNNER_TEMPLATE % dict(sources=runner_sources(), package=PACKAGE,
                                  args=json.dumps(args))


def one_step_supported(action):
    """True when ``action`` starts async jobs with ansible-core's own machinery (and a POSIX
    shell), which the one-step start hooks into; not under Mitogen for Ansible, which
    replaces that machinery with its own runner."""
    connection = action._connection
    return (not under_mitogen(action)
            and type(action)._execute_module is ActionBase._execute_module
            and type(action)._low_level_execute_command is ActionBase._low_level_execute_command
            and not getattr(connection, 'always_pipeline_modules', False)
            and not getattr(connection._shell, '_IS_WINDOWS', False))


class OneStepStart:
    """Start a job with ``action._execute_module(wrap_async=True)``, with the wrapper
    command replaced by the start runner (see the module docstring).

    ``claim_args`` are the runner's arguments (alias, token, waiting, wait, cleanup, the
    async dir); the tmp dir, the paths to make executable and whether to remove the tmp
    dir are added here. ``run()`` returns the runner's result.
    """

    def __init__(self, action, task_vars, claim_args):
        self.action = action
        self.task_vars = task_vars
        self.claim_args = dict(claim_args)
        self.deferred = []      # paths whose chmod u+rwx the runner does
        self.args = None        # the runner's arguments, once the job's files are in place
        self.remote_runner = None
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
            self._prepare(paths)
            if self.remote_runner:
                paths.append(self.remote_runner)
        if self.unprivileged or not execute:
            result = self._orig_fixup(paths, remote_user=remote_user, execute=execute)
        else:
            # chmod u+rwx, as Ansible's fix-up does here, but on the host by the runner.
            self.deferred.extend(p for p in paths if p not in self.deferred)
            result = paths
        if is_async and self.state == 'idle':
            self.state = 'ready'
        return result

    def _remote_expand_user(self, path, *args, **kwargs):
        # ansible-core expands the remote tmp dir (``echo ~user``, one remote command) only
        # to put it into the command that makes the tmp dir, where a POSIX shell expands it
        # anyway (``mkdir -p "`echo ~/.ansible/tmp`"``) and echoes the dir it made, which
        # is what ansible-core takes as the tmp dir. So the path is passed on unexpanded.
        if (self.state == 'idle' and path.startswith('~')
                and getattr(self.action._connection._shell, 'SHELL_FAMILY', None) == 'sh'
                and path == self.action.get_shell_option('remote_tmp', default='~/.ansible/tmp')):
            return path
        return self._orig_expand(path, *args, **kwargs)

    def _low_level_execute_command(self, cmd, *args, **kwargs):
        if self.state != 'ready':
            return self._orig_execute(cmd, *args, **kwargs)
        self.state = 'fired'
        if WRAPPER_NAME not in cmd:
            raise action_fail('asyncjobs.named: unexpected command where the async_wrapper '
                              'command was due: %s' % cmd)
        action = self.action
        # The job's environment for the runner too, so that it expands the async dir
        # exactly as the wrapper does (HOME included).
        env = action._compute_environment_string()
        env = ('%s %s=%s' % (env, WRAPPER_ENV, shlex.quote(cmd))).strip()
        in_data = None
        if self.pipelining:
            in_data = runner_source(self.args).encode('utf-8')
        # The job's interpreter, as ansible-core puts it in the wrapper command (unquoted:
        # it may carry arguments), with -S: the runner needs no site-packages.
        new_cmd = '%s %s -S' % (env, action._used_interpreter.replace('#!', '', 1).strip())
        if not self.pipelining:
            new_cmd += ' ' + shlex.quote(self.remote_runner)
        if len(args) >= 2:
            args = (args[0], in_data) + tuple(args[2:])
        else:
            kwargs['in_data'] = in_data
        return self._orig_execute(new_cmd, *args, **kwargs)

    def _prepare(self, async_paths):
        action = self.action
        shell = action._connection._shell
        tmpdir = self.tmpdir = shell.tmpdir
        self.keep_tmp = not action._should_remove_tmp_path(tmpdir)
        self.args = dict(self.claim_args, tmpdir=tmpdir,
                         remove_tmp=not self.keep_tmp and not self.unprivileged,
                         chmod=[] if self.unprivileged else self.deferred + [
                             p for p in async_paths if p not in self.deferred])
        if not self.pipelining:
            self.remote_runner = shell.join_path(tmpdir, RUNNER_NAME)
            action._transfer_data(self.remote_runner, runner_source(self.args))

    # -- running it ---------------------------------------------------------------------------

    def remove_unused_tmpdir(self, result):
        """Remove the job's tmp dir from the controller when no job was started in it and
        the runner could not remove it (it runs as an unprivileged become user, and the
        dir belongs to the login user): one more remote command, on that path only."""
        if (self.tmpdir and not self.keep_tmp and result.get('action') != 'start'
                and not result.get('tmpdir_removed')):
            self.action._remove_tmp_path(self.tmpdir, force=True)

    def run(self, module_call):
        """Start the task's async job (``action._task.async_val`` is its limit) through the
        start runner; return the runner's result. ``module_call()`` gives the job's (module
        name, module args); it runs with the hooks in place, so that the permission fix-up
        of files it transfers (a script) is deferred to the host too."""
        action = self.action
        self._orig_fixup = action._fixup_perms2
        self._orig_execute = action._low_level_execute_command
        self._orig_expand = action._remote_expand_user
        action._fixup_perms2 = self._fixup_perms2
        action._low_level_execute_command = self._low_level_execute_command
        action._remote_expand_user = self._remote_expand_user
        try:
            module_name, module_args = module_call()
            result = action._execute_module(module_name=module_name, module_args=module_args,
                                            task_vars=self.task_vars, wrap_async=True)
        finally:
            del action._fixup_perms2
            del action._low_level_execute_command
            del action._remote_expand_user
        if self.state != 'fired':
            raise action_fail('asyncjobs.named: ansible-core did not run the async_wrapper '
                              'command through the one-step start; nothing was started')
        return result
