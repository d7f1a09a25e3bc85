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
  runner*: a small Python program (the module_utils packages ``_shared`` and ``_host``,
  compressed,
  with a loader of a few lines and the arguments, see ``runner_source``), piped on stdin
  when pipelining is on (else transferred next to the job's files), run by async_wrapper's
  own interpreter (taken from the wrapper command: a Python, whatever the job's module
  is). The wrapper command travels once: inside the runner's arguments on stdin, else as
  the runner's one command-line argument (a large task ``environment`` fits where it fits
  for native async). On the host, that one Python process takes the name's lock, decides
  whether to attach or to start, claims the name, runs the wrapper command exactly as
  Ansible would have (with the task's shell executable), names the job, and reads (or
  waits for) its status (``_host.start.start_named_job``). It is not an Ansible module:
  an AnsiballZ payload would cost a second interpreter start-up with ansible's own
  module_utils, about as much again as the async_wrapper it runs. The hook fails closed:
  a wrapper command it did not prepare is never run;
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
import secrets
import shlex
import time
import zlib

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import specs
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    action_fail, execute_taking_header, lost_output_why, own_module_execution)

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
    """Imports the collection's module_utils packages from SOURCES ({name: [is a package,
    source]}), and the packages above them (empty)."""

    def find_spec(self, name, path=None, target=None):
        if name in SOURCES:
            return ModuleSpec(name, self, is_package=SOURCES[name][0])
        if PACKAGE.startswith(name + '.') or name == PACKAGE:
            return ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if module.__name__ not in SOURCES:
            module.__path__ = []
            return
        is_package, source = SOURCES[module.__name__]
        if is_package:
            module.__path__ = []
        exec(compile(source, '<%%s>' %% module.__name__, 'exec'), module.__dict__)


sys.meta_path.insert(0, Loader())
try:
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.start import (
        start_main)
    args = json.loads(%(args)r)
    if len(sys.argv) > 1:  # without pipelining: what is known only when the job starts
        args.update(json.loads(sys.argv[1]))
    result = start_main(args, stream=sys.stdout)
except Exception as e:
    import traceback
    result = dict(failed=True, msg='%%s: %%s' %% (type(e).__name__, e),
                  exception=traceback.format_exc())
releases = result.pop('_release', [])
if releases:  # names freed only once the result has left the host
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import (
        deliver_then_release)
    deliver_then_release(result, sys.stdout, releases)
else:
    sys.stdout.write(json.dumps(result))
# Done: the interpreter's teardown is skipped. The job's keeper was forked from this process,
# and freeing this heap would copy each page it touches (copy-on-write): tens of
# milliseconds of CPU per start for nothing.
sys.stdout.flush()
sys.stderr.flush()
import os
os._exit(0)
'''
# How the runner is run with pipelining: its source is read from stdin in one go and run.
# (``python -`` reads a program from stdin one byte per read(): a tenth of a second of system
# time for the few hundred kilobytes of a start with its files.) Bytes: exec decodes them as
# UTF-8, whatever the host's locale.
RUNNER_BOOTSTRAP = 'import sys;exec(sys.stdin.buffer.read())'
# The packages the runner ships, whole: what the host runs and what it shares with the
# controller (the runner imports from both, lazily: only what a start needs is compiled).
RUNNER_PACKAGES = ('_shared', '_host')

ENV_WORD_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*=')
# A command that runs async_wrapper: its path, then a jid prefix (not one that only names
# the file, as the permission fix-up's chmod or setfacl do).
WRAPPER_RUN_RE = re.compile(r'async_wrapper\.py[\'"]?\s+[\'"]?j\d+\b')


def read_wrapper_command(cmd, wrapper_path):
    """(interpreter, jid prefix) of the async_wrapper command line ``cmd``. The interpreter:
    the words between the environment assignments that open it and ``wrapper_path``
    (ansible-core puts the wrapper's own shebang there: a Python, whatever the job's module
    is), quoted for a POSIX shell; the prefix: the word after ``wrapper_path``. ValueError
    when ``cmd`` does not have that form."""
    words = shlex.split(cmd)
    if wrapper_path not in words[:-1]:
        raise ValueError('%s is not in it' % wrapper_path)
    at = words.index(wrapper_path)
    head = words[:at]
    while head and ENV_WORD_RE.match(head[0]):
        head.pop(0)
    if not head:
        raise ValueError('no interpreter before %s' % wrapper_path)
    return ' '.join(shlex.quote(w) for w in head), words[at + 1]


_sources = None


def package_sources(directory, packages=RUNNER_PACKAGES):
    """{module name: [is a package, source]} of every file of ``packages`` of the
    collection's module_utils in ``directory``: what the runner can import."""
    found = {}
    for package in packages:
        base = os.path.join(directory, package)
        for name in sorted(os.listdir(base)):
            if not name.endswith('.py'):
                continue
            with open(os.path.join(base, name), encoding='utf-8') as f:
                source = f.read()
            if name == '__init__.py':
                found['%s.%s' % (PACKAGE, package)] = [True, source]
            else:
                found['%s.%s.%s' % (PACKAGE, package, name[:-3])] = [False, source]
    return found


def runner_sources():
    """The runner's module_utils (``package_sources``), compressed and encoded, built once
    per process. zlib's fastest level: a worker builds them once per host, and level 9
    costs about 8 ms more for a fifth fewer bytes on a pipe."""
    global _sources
    if _sources is None:
        directory = os.path.dirname(os.path.dirname(os.path.abspath(specs.__file__)))
        found = package_sources(directory)
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
    return (own_module_execution(action)
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
        #                         (or 'refused': a command it did not prepare was not run)
        self.wrapper_path = None  # the async_wrapper the permission hook saw
        self.prefix = None        # the jid prefix of the wrapper command run
        self.tmpdir = None      # the job's remote tmp dir
        self.keep_tmp = False   # whether Ansible keeps it (keep_remote_files)
        self.unprivileged = action._is_become_unprivileged()
        self.pipelining = action._is_pipelining_enabled('new')
        self.header = None      # the runner's start header, once it came (START_HEADER)
        # With pipelining, the job's files travel with the runner, on its stdin: the tmp dir
        # is a placeholder (specs.staged_tmpdir) that the runner makes on the host. Staged
        # once the tmp dir is that placeholder (stage_name set).
        self.stage_name = None
        self.files = {}         # staged: {file name in the tmp dir: its content}

    # -- hooks (instance attributes, so only this action instance is affected) ---------

    def _make_tmp_path(self, remote_user=None):
        if not self.pipelining or self.state != 'idle':
            return self._orig_make_tmp(remote_user)
        # No remote command: the runner makes the dir when it starts the job.
        if self.stage_name is None:
            self.stage_name = 'ansible-tmp-%s-%s-%s' % (time.time(), os.getpid(),
                                                        secrets.randbelow(2 ** 48))
        shell = self.action._connection._shell
        shell.tmpdir = specs.staged_tmpdir(self.stage_name)
        # As ansible-core's own: the dir is the action's to remove (async_wrapper removes
        # it when the job ends, unless keep_remote_files).
        self.action._cleanup_remote_tmp = True
        return shell.tmpdir

    def _staged_name(self, remote_path):
        """The file name of ``remote_path`` in the staged tmp dir; None for another path."""
        if self.stage_name is None:
            return None
        root = specs.staged_tmpdir(self.stage_name) + '/'
        if not remote_path.startswith(root):
            return None
        name = remote_path[len(root):]
        if self.state != 'idle' or not name or '/' in name:
            self._refuse('ansible-core transferred %s, which the one-step start cannot send '
                         'with the job' % remote_path, None)
        return name

    def _transfer_data(self, remote_path, data):
        name = self._staged_name(remote_path)
        if name is None:
            return self._orig_transfer_data(remote_path, data)
        if isinstance(data, dict):
            data = json.dumps(data)
        if isinstance(data, str):
            data = data.encode('utf-8', 'surrogateescape')
        self.files[name] = data
        return remote_path

    def _transfer_file(self, local_path, remote_path):
        name = self._staged_name(remote_path)
        if name is None:
            return self._orig_transfer_file(local_path, remote_path)
        with open(local_path, 'rb') as f:
            self.files[name] = f.read()
        return remote_path

    def _fixup_perms2(self, remote_paths, remote_user=None, execute=True):
        paths = [p for p in remote_paths if p]
        is_async = any(p.endswith(WRAPPER_NAME) for p in paths)
        staged = self.stage_name is not None
        if staged and any(p != specs.staged_tmpdir(self.stage_name)
                          and self._staged_name(p) is None for p in paths):
            self._refuse('ansible-core asked to fix the permissions of %s, outside the '
                         'staged tmp dir' % ', '.join(paths), None)
        if is_async and self.state == 'idle':
            self.wrapper_path = [p for p in paths if p.endswith(WRAPPER_NAME)][0]
            self._prepare(paths)
            if self.remote_runner:
                paths.append(self.remote_runner)
        if staged:
            # The runner writes the files, as the user it runs as (the become user), mode
            # 0700: nothing to fix, no ACL to set.
            result = paths
        elif self.unprivileged or not execute:
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
        wrapper = WRAPPER_RUN_RE.search(cmd) is not None
        if self.state != 'ready' or not wrapper:
            if wrapper or self.state == 'ready':
                # Fail closed: a wrapper command that this start did not prepare (its files
                # did not pass through the permission hook), a second one, or another
                # command where the prepared one was due is never run.
                self._refuse('ansible-core ran %s %s, which the one-step start did not '
                             'prepare' % ('an async_wrapper command' if wrapper else 'a command',
                                          'where the async_wrapper command was due'
                                          if self.state == 'ready' else
                                          'in state %s' % self.state), cmd)
            return self._orig_execute(cmd, *args, **kwargs)
        try:
            interpreter, self.prefix = read_wrapper_command(cmd, self.wrapper_path)
        except ValueError as e:
            self._refuse('the async_wrapper command cannot be read: %s' % e, cmd)
        self.state = 'fired'
        action = self.action
        # The extra arguments known only now: the wrapper command, once (on the runner's
        # stdin, else its one argument; never in an environment variable, so that a large
        # task environment fits as it does for native async) and the shell that runs it,
        # as _low_level_execute_command would run it (ansible_shell_executable).
        shell = None
        if getattr(action._connection, 'allow_executable', True):
            shell = action._play_context.executable or None
        extra = dict(wrapper_cmd=cmd, shell=shell)
        if self.stage_name is not None:
            extra['stage'] = dict(name=self.stage_name, bases=self.tmp_bases(), files=dict(
                (name, base64.b64encode(zlib.compress(data, 1)).decode('ascii'))
                for name, data in self.files.items()))
        in_data = None
        # async_wrapper's interpreter (a Python: the job's module may be anything), as
        # ansible-core put it in the wrapper command, with -S: the runner needs no
        # site-packages.
        new_cmd = '%s -S' % interpreter
        if self.pipelining:
            # The runner's source on stdin, read in one go (RUNNER_BOOTSTRAP).
            new_cmd += ' -c %s' % shlex.quote(RUNNER_BOOTSTRAP)
            in_data = runner_source(dict(self.args, **extra)).encode('utf-8')
        else:
            new_cmd += ' %s %s' % (shlex.quote(self.remote_runner), shlex.quote(json.dumps(extra)))
        if len(args) >= 2:
            args = (args[0], in_data) + tuple(args[2:])
        else:
            kwargs['in_data'] = in_data
        # The start header, also when the connection failed after it came (ansible-core
        # raises for the ssh client's 255): it names the job.
        return execute_taking_header(self._orig_execute, action._connection, specs.START_HEADER,
                                     self._keep_header, new_cmd, *args, **kwargs)

    def _keep_header(self, header):
        self.header = header

    def _refuse(self, why, cmd):
        """Refuse to run ``cmd``: nothing is started. The job's tmp dir, where nothing runs,
        is removed."""
        self.state = 'refused'
        if self.tmpdir and not self.keep_tmp:
            try:
                self.action._remove_tmp_path(self.tmpdir, force=True)
            except Exception:  # pylint: disable=broad-except
                pass  # a tmp dir left behind is all this costs
        raise action_fail('asyncjobs.named: %s; it was not run, nothing was started, and '
                          'running the task again starts the job%s'
                          % (why, ' (%s)' % cmd[:200] if cmd else ''),
                          result=dict(job_started=False))

    def tmp_bases(self):
        """Where the runner makes the staged tmp dir, first that works: ``remote_tmp`` (as the
        user the runner runs as, the become user), then ``system_tmpdirs``."""
        get = self.action.get_shell_option
        bases = [get('remote_tmp', default='~/.ansible/tmp')]
        bases += [d for d in (get('system_tmpdirs', default=None) or ['/var/tmp', '/tmp'])
                  if d not in bases]
        return bases

    def _prepare(self, async_paths):
        action = self.action
        shell = action._connection._shell
        if self.stage_name is not None:
            # Nothing on the host yet: the runner makes the dir and writes the files itself.
            self.keep_tmp = not action._should_remove_tmp_path(shell.tmpdir)
            self.args = dict(self.claim_args, tmpdir=None, remove_tmp=False, chmod=[])
            return
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
        """Remove the job's tmp dir from the controller when the runner says that no job was
        started in it for sure (``job_started`` false) and could not remove it itself (it
        runs as an unprivileged become user, and the dir belongs to the login user): one
        more remote command, on that path only. Fail closed: a result that does not say so
        (a failure after the start, a runner that died, a connection that dropped) keeps
        the dir, which a job may need."""
        if (self.tmpdir and not self.keep_tmp and result.get('job_started') is False
                and not result.get('tmpdir_removed')):
            self.action._remove_tmp_path(self.tmpdir, force=True)

    def unreported(self, result, cause=None):
        """The failed result of a start whose runner did not report (it died, or its output
        was lost: the ssh client killed, say): what became of the job, as far as the
        controller can tell. The runner's start header, when it came before the loss, names
        the job it started or attached to."""
        if cause is None:
            cause = ('its result was lost' if self.header else
                     'the start runner did not report') + ' (%s)' % lost_output_why(result)
        return dict(result, failed=True, **self.job_fate(cause))

    def lost(self, error, host):
        """The result of a start whose connection failed (ansible-core raised for it, as for
        the ssh client's exit code 255): unreachable, as ansible-core reports such a host,
        with what became of the job (``job_fate``)."""
        why = str(getattr(error, 'message', None) or error).strip()
        cause = 'the connection to %s failed (%s)' % (host, why)
        return dict(unreachable=True, changed=False, **self.job_fate(cause))

    def job_fate(self, cause):
        """``msg``, ``ansible_job_id``, ``ansible_job_alias``, ``attached`` and
        ``job_started`` (with ``jid_prefix`` when the job is not known) of a start whose
        result was lost because of ``cause``."""
        alias = self.claim_args.get('alias')
        waiting = self.claim_args.get('waiting')
        header = self.header if isinstance(self.header, dict) else None
        if header and header.get('ansible_job_id'):
            jid = header['ansible_job_id']
            attached = header.get('action') == 'attach'
            fate = dict(ansible_job_id=jid, ansible_job_alias=alias, attached=attached)
            if not attached:
                fate['job_started'] = True
            fate['msg'] = (
                'job %s named %r %s and keeps running on the host, but %s%s. Running this task '
                'again attaches to it (or async_wait with alias=%s waits for it)' % (
                    jid, alias, 'was attached to' if attached else 'was started', cause,
                    ' while this task waited for it' if waiting else '', alias))
            return fate
        if self.prefix is None:
            return dict(ansible_job_id=None, ansible_job_alias=alias, attached=False,
                        job_started=False, msg='nothing was started for %r: %s. Running the '
                        'task again starts the job' % (alias, cause))
        return dict(ansible_job_id=None, ansible_job_alias=alias, attached=False,
                    job_started=None, jid_prefix=self.prefix, msg=(
                        '%s while the job named %r (job %s.* if it started) was being started. '
                        'Whether it started cannot be told from here; the claim on the name '
                        'records it, so running the task again attaches to it if it started, '
                        'and starts it if it did not' % (cause, alias, self.prefix)))

    def run(self, module_call):
        """Start the task's async job (``action._task.async_val`` is its limit) through the
        start runner; return the runner's result. ``module_call()`` gives the job's (module
        name, module args); it runs with the hooks in place, so that the permission fix-up
        of files it transfers (a script) is deferred to the host too."""
        action = self.action
        self._orig_fixup = action._fixup_perms2
        self._orig_execute = action._low_level_execute_command
        self._orig_expand = action._remote_expand_user
        self._orig_make_tmp = action._make_tmp_path
        self._orig_transfer_data = action._transfer_data
        self._orig_transfer_file = action._transfer_file
        hooks = ('_fixup_perms2', '_low_level_execute_command', '_remote_expand_user',
                 '_make_tmp_path', '_transfer_data', '_transfer_file')
        for name in hooks:
            setattr(action, name, getattr(self, name))
        try:
            module_name, module_args = module_call()
            result = action._execute_module(module_name=module_name, module_args=module_args,
                                            task_vars=self.task_vars, wrap_async=True)
        finally:
            for name in hooks:
                delattr(action, name)
        if self.state != 'fired':
            raise action_fail('asyncjobs.named: ansible-core did not run the async_wrapper '
                              'command through the one-step start; nothing was started')
        return result
