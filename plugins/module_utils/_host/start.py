# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one-step start of a named job (run by the start runner of
plugins/plugin_utils/_start.py): decide, claim, run async_wrapper and name the job, in
one process on the host, then read or wait for its status.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import binascii
import json
import os
import re
import shlex
import stat
import subprocess
import time
import zlib

from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    require_async_dir)
from ansible_collections.asyncjobs.named.plugins.module_utils._host import containment, keeper
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import (
    JID_PREFIX_RE, WRAPPER_JID_RE, job_path, validate)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.job_status import job_status
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import (
    ATTACH, RUNNING)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.processes import (
    wrapper_liveness)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import (
    release_plan, send_header, set_alias, write_meta)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.claims import (
    await_job_of_prefix, claim_name, drop_claim, job_of_prefix, prefix_liveness, under_claim)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import (
    CLAIM_STALE_AFTER, RUNNER_SPEC, START_HEADER, staged_tmpdir)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import failpoints
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.failpoints import failpoint
from ansible_collections.asyncjobs.named.plugins.module_utils._host.wait import (
    add_progress, wait_for)

# A one-step start waits this long for the lock of a name that another run holds.
LOCK_TIMEOUT = 120.0


# --------------------------------------------------------------------------
# The async_wrapper command

def wrapper_jid_prefix(wrapper_cmd):
    """The jid prefix in an async_wrapper command line: the argument that follows the
    one ending in ``async_wrapper.py`` (ansible-core 2.9 to 2.21). JobError otherwise."""
    try:
        args = shlex.split(wrapper_cmd)
    except ValueError as e:
        raise JobError('cannot read the async_wrapper command %r: %s' % (wrapper_cmd, e))
    for i, arg in enumerate(args[:-1]):
        if arg.endswith('async_wrapper.py') and JID_PREFIX_RE.match(args[i + 1]):
            return args[i + 1]
    raise JobError('%r is not an async_wrapper command (no job id prefix after '
                   'async_wrapper.py)' % (wrapper_cmd,))


def _reply(out):
    """The JSON object that async_wrapper printed (a line starting with '{'), or None."""
    for line in out.splitlines():
        line = line.strip()
        if line.startswith('{'):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return None


ENV_WORD_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*=')


def wrapper_env(wrapper_cmd):
    """The environment assignments that open the async_wrapper command line (the task's
    ``environment`` and ANSIBLE_ASYNC_DIR, as ansible-core puts them in front), as a dict:
    what the wrapper's shell gives the job."""
    env = {}
    for word in shlex.split(wrapper_cmd):
        if not ENV_WORD_RE.match(word):
            break
        name, _eq, value = word.partition('=')
        env[name] = value
    return env


def run_wrapper(wrapper_cmd, env=None, shell=None, preexec_fn=None):
    """Run the async_wrapper command line as Ansible would, with ``shell -c`` (the task's
    shell executable, ``ansible_shell_executable``; /bin/sh when the connection has none);
    return its reply.

    The launcher prints one JSON line and exits once the job runs; the job's processes
    detach (new session, standard streams on /dev/null), so this returns at once.
    ``preexec_fn`` runs in the shell's process before it execs (it joins the job's cgroup).
    """
    proc = subprocess.Popen([shell or '/bin/sh', '-c', wrapper_cmd], stdin=_devnull(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                            env=env, preexec_fn=preexec_fn)
    out, err = proc.communicate()
    out = out.decode('utf-8', 'replace')
    err = err.decode('utf-8', 'replace')
    reply = _reply(out)
    if reply is None:
        reply = dict(failed=True, rc=proc.returncode,
                     msg='async_wrapper did not start the job (rc %s): %s'
                     % (proc.returncode, (err or out).strip() or 'no output'))
    return reply


def _devnull():
    return open(os.devnull, 'rb')


def run_contained(wrapper_cmd, env=None, shell=None, meta=None, limits=None, async_dir=None):
    """``run_wrapper`` with the job contained (_host.containment): in a cgroup of its own,
    made (with ``limits``) before its first process starts, where this host lets us make
    one, and with its mark in its environment everywhere. The record of it goes into
    ``meta`` (the job's meta file), for async_kill and the job's status. A cgroup that the
    shell could not join is given up for the fallback, before anything of the job ran.

    With ``async_dir``, async_wrapper is run by the job's keeper (_host.keeper), a process
    that stays with the job: its descendants are the job's processes, and it sweeps and
    cleans up after the job when it ends."""
    prefix = wrapper_jid_prefix(wrapper_cmd)
    record, _why = containment.prepare(prefix, limits)

    def run():
        try:
            return run_wrapper(wrapper_cmd, containment.marked_env(env, record), shell,
                               preexec_fn=containment.joiner(record)), record
        except subprocess.SubprocessError:
            # Only the joining runs before exec: nothing of the job ran.
            containment.remove(record)
            if record.get('limits'):
                raise
            plain = dict(mechanism=containment.ENVIRON, mark=prefix)
            return run_wrapper(wrapper_cmd, containment.marked_env(env, plain), shell), plain
    try:
        if async_dir is None:
            reply, record = run()
        else:
            reply, record = keeper.launch(run, async_dir)
    except BaseException:
        containment.remove(record)  # only when empty: a job that runs keeps its cgroup
        raise
    if meta is not None:
        meta['containment'] = record
    if reply.get('failed'):
        containment.remove(record)
    return reply


# --------------------------------------------------------------------------
# The job's files, staged: they came with the runner (on its stdin), and are written
# only when the job is started

TMP_NAME_RE = re.compile(r'^ansible-tmp-[0-9.]+-[0-9]+-[0-9]+$')
FILE_NAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.+-]*$')
# A dir that can stand in for the placeholder wherever it is written: in a shell command, in
# the module's arguments (JSON, in a Python string literal of the AnsiballZ payload), in an
# args file. A base dir with other characters is passed over (the system tmp dirs follow).
SAFE_DIR_RE = re.compile(r'^/[A-Za-z0-9_./+-]*$')


def expand_tmp_base(base, home=None):
    """``base`` (a ``remote_tmp`` or a ``system_tmpdirs`` entry, as configured: ``~/...``,
    ``$VAR/...``) expanded as the shell of Ansible's ``mkdir`` would expand it on the host, but
    ``~`` as the home of the user this process runs as (its passwd entry, not ``$HOME``, which
    sudo may have kept from the login user). None when it does not expand to an absolute
    path."""
    if base == '~' or base.startswith('~/'):
        if home is None:
            import pwd
            try:
                home = pwd.getpwuid(os.geteuid()).pw_dir
            except KeyError:
                home = os.environ.get('HOME') or ''
        base = home + base[1:]
    else:
        base = os.path.expanduser(base)
    base = os.path.normpath(os.path.expandvars(base))
    return base if os.path.isabs(base) else None


def make_stage_dir(name, bases, home=None):
    """Make the job's tmp dir ``name`` (``ansible-tmp-...``, mode 0700) in the first of
    ``bases`` that takes it (its parents made as ``mkdir -p`` makes them, 0700); return its
    path. JobError, saying why for each base, when none does."""
    if not TMP_NAME_RE.match(name or ''):
        raise JobError('refusing to make the job\'s tmp dir %r: not a name of the form '
                       'ansible-tmp-*' % (name,))
    why = []
    for base in bases:
        path = expand_tmp_base(base, home)
        if path is None or not SAFE_DIR_RE.match(path):
            why.append('%s: not an absolute path of letters, digits and _./+-' % (path or base))
            continue
        try:
            if not os.path.isdir(path):
                os.makedirs(path, 0o700)
            target = os.path.join(path, name)
            os.mkdir(target, 0o700)
            return target
        except OSError as e:
            why.append('%s: %s' % (path, e.strerror or e))
    raise JobError('cannot make the job\'s tmp dir %s in any of %s' % (name, '; '.join(why)))


def write_stage_files(tmpdir, files, placeholder=None):
    """Write ``files`` ({name: zlib-compressed, base64-encoded content}) into ``tmpdir``,
    each a new file (never through a symlink, never over an existing file), mode 0700 as
    Ansible's permission fix-up leaves them (``chmod u+rwx``). ``placeholder`` (the dir the
    controller wrote into the module's arguments, say the path of a script) is replaced with
    ``tmpdir`` in them."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0)
    for name in sorted(files):
        if not FILE_NAME_RE.match(name):
            raise JobError('refusing to write %r into the job\'s tmp dir: not a plain file '
                           'name' % (name,))
        try:
            data = zlib.decompress(binascii.a2b_base64(files[name]))
        except (binascii.Error, zlib.error, TypeError, ValueError) as e:
            raise JobError('the job\'s file %s came damaged: %s' % (name, e))
        if placeholder:
            data = data.replace(placeholder.encode('utf-8'), tmpdir.encode('utf-8'))
        fd = os.open(os.path.join(tmpdir, name), flags, 0o700)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)


class StagedFiles(object):
    """The job's files (the module's payload, async_wrapper, an args file or a script), sent
    with the runner instead of being transferred (``stage``: ``name`` of the tmp dir,
    ``bases`` to make it in, ``files``). The controller wrote the wrapper command with the
    placeholder dir (``staged_tmpdir``); ``run`` makes the real dir, writes the files
    and runs the command with the real dir in it. Nothing is written for a job that is
    attached to, or refused. ``tmpdir`` and ``cmd``: the dir and the command, once made."""

    def __init__(self, stage, home=None):
        self.name = stage.get('name')
        self.bases = stage.get('bases') or []
        self.files = stage.get('files') or {}
        self.home = home
        self.tmpdir = None
        self.cmd = None

    def run(self, wrapper_cmd, env=None, shell=None, run=None):
        """``run`` (default ``run_wrapper``) runs the command once the files are written."""
        placeholder = staged_tmpdir(self.name)
        if placeholder not in wrapper_cmd:
            raise JobError('the async_wrapper command does not run from the staged tmp dir %s'
                           % placeholder)
        tmpdir = make_stage_dir(self.name, self.bases, self.home)
        try:
            write_stage_files(tmpdir, self.files, placeholder)
        except BaseException:
            import shutil
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        self.tmpdir = tmpdir
        self.cmd = wrapper_cmd.replace(placeholder, shlex.quote(tmpdir))
        return (run or run_wrapper)(self.cmd, env, shell)


# --------------------------------------------------------------------------
# Starting

def start(async_dir, alias, token, waiting, wrapper_cmd, run=run_wrapper,
          liveness=wrapper_liveness, clock=time.time, sleep=time.sleep, proc='/proc',
          stale_after=CLAIM_STALE_AFTER, lock_timeout=LOCK_TIMEOUT, hold=0.0, meta=None,
          on_running=ATTACH, on_finished=None):
    """Attach to the job named ``alias``, or start it with ``wrapper_cmd`` and name it,
    all under the name's lock.

    The claim written before the start carries the wrapper's jid prefix: if this process
    dies before naming the job, the next run finds the job by it (``decide``). Another
    run's claim from a start in several steps is waited for, up to ``hold`` seconds.

    The job policies ``on_running`` and ``on_finished`` say what to do with a job that the
    name leads to (``_host.claims.decide``).

    Returns ``action`` (``attach``, ``start``, ``failed``: async_wrapper refused,
    ``refused``: the job policy says fail, with ``msg``, or ``claimed``: another run still
    holds a fresh claim), ``status`` (of the job found, for ``attach``),
    ``ansible_job_id`` and, for ``start`` and ``failed``, ``reply`` (what async_wrapper
    printed); after a restart (on_running=restart), ``replaced``: the job killed.
    """
    prefix = wrapper_jid_prefix(wrapper_cmd)

    def on_start(found):
        started = _start_locked(async_dir, alias, token, wrapper_cmd, prefix, run, liveness,
                                clock, sleep, proc, meta)
        if found.get('replaced'):
            started['replaced'] = found['replaced']
        return started
    return under_claim(
        async_dir, alias, token, waiting, on_start,
        hold=hold, liveness=liveness, clock=clock, sleep=sleep, proc=proc,
        stale_after=stale_after, lock_timeout=lock_timeout, on_running=on_running,
        on_finished=on_finished)


class StartFailed(JobError):
    """A failure of the one-step start after async_wrapper was run (or may have been): its
    result says whether a job was started (``job_started``: True, or None when that cannot
    be told) and which, so that the controller keeps what the job needs."""


def _started_msg(jid, prefix, alias, why):
    if jid:
        return ('job %s was started and keeps running on the host, but %s. The claim on the '
                'name %r records the job: running the task again names it and attaches to it '
                '(nothing else is started)' % (jid, why, alias))
    return ('async_wrapper was run for job %s.* (%s); whether the job runs cannot be told yet. '
            'The claim on the name %r is kept: running the task again attaches to that job '
            'once its file is there, and starts nothing while its processes live'
            % (prefix, why, alias))


def _start_locked(async_dir, alias, token, wrapper_cmd, prefix, run, liveness, clock, sleep,
                  proc, meta):
    began = clock()
    claim_name(async_dir, alias, token, clock, jid_prefix=prefix)
    failpoint('after-claim', prefix=prefix)
    try:
        reply = run(wrapper_cmd)
        failpoint('after-wrapper', prefix=prefix)
        jid = reply.get('ansible_job_id') if not reply.get('failed') else None
        if jid is not None and (not isinstance(jid, str) or not WRAPPER_JID_RE.match(jid)
                                or not jid.startswith(prefix + '.')):
            reply = dict(reply, failed=True,
                         msg='async_wrapper returned an unexpected job id %r' % (jid,))
        # Which job runs is told by the job file of the prefix and the wrapper's processes,
        # whatever the reply said (a wrapper may start the job and fail to reply).
        jid, alive = await_job_of_prefix(async_dir, prefix, proc, clock=clock, sleep=sleep)
        if jid is None and alive is not False:
            raise StartFailed(
                _started_msg(None, prefix, alias, 'its processes %s, without a job file yet'
                             % ('live' if alive else 'cannot be read')),
                job_started=None, ansible_job_alias=alias)
        if jid is None:
            drop_claim(async_dir, alias)
            if not reply.get('failed'):
                said = reply.get('ansible_job_id')
                reply = dict(reply, failed=True,
                             msg='async_wrapper started job %s, but its processes ended without '
                             'writing its job file %s' % (said, job_path(async_dir, said)))
            return dict(action='failed', reply=reply, status=None, job_started=False)
        failpoint('before-naming', prefix=prefix, jid=jid)
        try:
            set_alias(async_dir, alias, jid, force=True, liveness=liveness)
            failpoint('after-naming', prefix=prefix, jid=jid)
            write_meta(async_dir, jid, alias, began, **(meta or {}))
            keeper.release()
            drop_claim(async_dir, alias)
        except Exception as e:  # pylint: disable=broad-except
            why = e.msg if isinstance(e, JobError) else '%s: %s' % (type(e).__name__, e)
            raise StartFailed(_started_msg(jid, prefix, alias, 'naming it failed: %s' % why),
                              job_started=True, ansible_job_id=jid, ansible_job_alias=alias)
    except StartFailed:
        raise
    except BaseException as e:
        # Whatever happened, the claim (which records the prefix) is kept while a job of the
        # prefix exists or may run; it goes only when nothing runs for sure.
        jid = job_of_prefix(async_dir, prefix)
        alive = prefix_liveness(prefix, proc)[0] if jid is None else None
        if jid is None and alive is False:
            drop_claim(async_dir, alias)
            if not isinstance(e, Exception):
                raise
            raise StartFailed('the job was not started (%s: %s); the name %r is free again: '
                              'running the task again starts it' % (type(e).__name__, e, alias),
                              job_started=False, ansible_job_alias=alias)
        if not isinstance(e, Exception):
            raise  # the runner is being stopped: the claim stays, as after a kill
        why = '%s: %s' % (type(e).__name__, e)
        raise StartFailed(_started_msg(jid, prefix, alias, why), job_started=True if jid else None,
                          ansible_job_id=jid, ansible_job_alias=alias)
    return dict(action='start', ansible_job_id=jid, reply=reply, status=None, job_started=True)


def remove_job_tmpdir(tmpdir, wrapper_cmd):
    """Remove the remote tmp dir that Ansible made for a job that was not started.

    Only the dir that holds the command's async_wrapper.py, named ``ansible-tmp-*`` like
    every remote tmp dir of Ansible, is removed; anything else is a JobError.
    """
    tmpdir = os.path.normpath(tmpdir)
    wrapper = [a for a in shlex.split(wrapper_cmd) if a.endswith('async_wrapper.py')]
    if (not os.path.isabs(tmpdir) or not os.path.basename(tmpdir).startswith('ansible-tmp-')
            or not wrapper or os.path.dirname(os.path.normpath(wrapper[0])) != tmpdir):
        raise JobError('refusing to remove %s: it is not the remote tmp dir of the '
                       'async_wrapper command' % tmpdir)
    if os.path.islink(tmpdir):
        raise JobError('refusing to remove %s: it is a symlink' % tmpdir)
    import shutil  # here: the common path of a start (which starts the job) never needs it
    shutil.rmtree(tmpdir, ignore_errors=True)
    return not os.path.lexists(tmpdir)


def make_executable(tmpdir, paths):
    """``chmod u+rwx`` on ``paths``, each ``tmpdir`` itself or inside it, as Ansible's
    permission fix-up does when no unprivileged become user needs access."""
    tmpdir = os.path.normpath(tmpdir)
    for path in paths:
        path = os.path.normpath(path)
        if path != tmpdir and os.path.dirname(path) != tmpdir:
            raise JobError('refusing to change the mode of %s: it is not in the remote tmp '
                           'dir %s' % (path, tmpdir))
        st = os.lstat(path)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(path, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)


def _started_now(jid, owner_uid=None):
    """The liveness of a job that this process has just started (async_wrapper reported it
    running and its job file is there): alive, with no scan of the host's processes (a
    read of every process's command line: tens of milliseconds on a busy host)."""
    return True, [], None


def start_named_job(async_dir, alias, token, waiting, wrapper_cmd, wait=0.0, cleanup=True,
                    tmpdir=None, remove_tmp=False, chmod=(), env=None, shell=None, hold=0.0,
                    what=None, output=None, tail_lines=0, liveness=wrapper_liveness,
                    clock=time.time, sleep=time.sleep, proc='/proc', lock_timeout=LOCK_TIMEOUT,
                    on_running=ATTACH, on_finished=None, announce=None, stage=None,
                    limits=None):
    """The host side of async_task's one-step start.

    Makes the job's files executable (``chmod``), attaches to the job named ``alias`` or
    runs ``wrapper_cmd`` with ``shell`` and names the job (``start``), removes the job's
    tmp dir when nothing was started for sure (``remove_tmp``), then returns the job's
    status; when the caller waits (``waiting``), after waiting up to ``wait`` seconds for
    it, and with its names freed (``cleanup``) once it is done. The result is ``start``'s
    plus ``status`` (``released`` in it when waiting: the names that ``_release`` frees
    once the result has left the host), ``job_started`` (False only when nothing runs for
    sure) and ``tmpdir_removed``. A job it starts gets its meta file, with
    ``what`` it runs and the name of its ``output`` log; while it runs, its status has the
    last ``tail_lines`` lines of that log (add_progress).

    The job runs contained (``run_contained``), with ``limits`` on its cgroup.

    ``announce(action, jid)`` is called once the job is started or attached to, before its
    status is read or waited for (the start runner writes the start header to its stdout).

    ``stage`` (the job's files, sent with the runner: StagedFiles) makes the job's tmp dir
    and writes them only when the job is started; ``tmpdir`` and ``chmod`` are then unused.

    A failure after the job was started raises StartFailed with the job's id: the job, its
    tmp dir and the claim that leads to it are left in place.
    """
    staged = StagedFiles(stage) if stage else None
    if staged is None and chmod:
        make_executable(tmpdir, chmod)
    meta = dict(what=what, output=output)

    def contained(cmd, env, shell):
        return run_contained(cmd, env, shell, meta, limits, async_dir)
    if staged is None:
        run_job = contained
    else:
        def run_job(cmd, env, shell):
            return staged.run(cmd, env, shell, run=contained)

    def remove_unused(result):
        """Remove the job's tmp dir, for a result that says nothing was started."""
        if result.get('job_started') is not False:
            return
        if staged is not None:
            result['tmpdir_removed'] = (staged.tmpdir is None or remove_job_tmpdir(
                staged.tmpdir, staged.cmd))
        elif remove_tmp and tmpdir:
            result['tmpdir_removed'] = remove_job_tmpdir(tmpdir, wrapper_cmd)
    try:
        found = start(async_dir, alias, token, waiting, wrapper_cmd,
                      run=lambda cmd: run_job(cmd, env, shell), liveness=liveness,
                      clock=clock, sleep=sleep, proc=proc, lock_timeout=lock_timeout, hold=hold,
                      meta=meta, on_running=on_running,
                      on_finished=on_finished)
    except StartFailed as e:
        remove_unused(e.result)
        raise
    found.setdefault('job_started', found['action'] == 'start')
    found['tmpdir_removed'] = False
    remove_unused(found)
    if found['action'] not in ('start', 'attach'):
        return found
    jid = found['ansible_job_id']
    if announce is not None:
        announce(found['action'], jid)
    try:
        failpoint('before-status', jid=jid)
        if waiting:
            status = wait_for(async_dir, jid, wait, liveness=liveness, clock=clock, sleep=sleep)
            status['released'] = []
            if cleanup and status['state'] != RUNNING:
                # Freed once the result has left the host (deliver_then_release).
                status['released'] = release_plan(async_dir, jid, alias)
                found['_release'] = [(async_dir, jid, alias)]
        elif found['action'] == 'attach':
            status = found['status']
        else:
            status = job_status(async_dir, jid=jid, liveness=_started_now)
        status['ansible_job_alias'] = alias
        found['status'] = add_progress(async_dir, status, clock=clock, tail_lines=tail_lines)
    except Exception as e:  # pylint: disable=broad-except
        why = e.msg if isinstance(e, JobError) else '%s: %s' % (type(e).__name__, e)
        raise StartFailed(
            'job %s named %r %s on the host, but reading its status failed: %s. Running the '
            'task again attaches to it (or async_wait with alias=%s)'
            % (jid, alias, 'was started and keeps running' if found['action'] == 'start'
               else 'keeps running', why, alias),
            job_started=found['job_started'], ansible_job_id=jid, ansible_job_alias=alias,
            attached=found['action'] == 'attach')
    return found


def header_writer(stream):
    """``announce`` for start_named_job that writes the start header (``START_HEADER``) as
    one line to ``stream`` and flushes it: it leaves the host before the wait begins."""
    def announce(action, jid):
        send_header(stream, START_HEADER, dict(action=action, ansible_job_id=jid))
    return announce


def start_main(args, environ=None, stream=None):
    """The start runner's entry point (see plugins/plugin_utils/_start.py): the one-step
    start with ``args``, checked against ``RUNNER_SPEC`` (_shared.specs): the action's
    arguments, ``wrapper_cmd`` (the async_wrapper command line) and ``shell`` (the shell that
    runs it). The runner's own
    environment is ``environ`` (default ``os.environ``, the login's) with the assignments
    that open the wrapper command (the task's ``environment``) over it, so that the async
    dir is expanded as the wrapper expands it; the wrapper gets ``environ``, and its shell
    applies the assignments itself. Returns the result, failed with a message for bad input,
    and for a failure after the start with ``job_started`` and the job's id. The start
    header goes to ``stream`` (none: no header)."""
    base = dict(os.environ if environ is None else environ)
    try:
        try:
            params = RUNNER_SPEC.check(args)
        except ValueError as e:
            raise JobError('the start runner\'s %s' % e)
        wrapper_cmd = params['wrapper_cmd']
        try:
            own = wrapper_env(wrapper_cmd)
        except ValueError as e:
            raise JobError('cannot read the async_wrapper command line: %s' % e)
        validate(alias=params['alias'])
        try:
            limits = containment.check_limits(params['limits'])
        except containment.ContainmentError as e:
            raise JobError('%s. Nothing was started' % e)
        failpoints.arm(params['_failpoints'])
        saved = dict(os.environ)
        os.environ.update(own)
        try:
            async_dir = require_async_dir(params)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        result = start_named_job(
            async_dir, params['alias'], params['token'], params['waiting'], wrapper_cmd,
            wait=params['wait'], cleanup=params['cleanup'], tmpdir=params['tmpdir'],
            remove_tmp=params['remove_tmp'], chmod=params['chmod'], env=base,
            shell=params['shell'], hold=params['hold'], what=params['what'],
            output=params['output'], tail_lines=params['tail_lines'],
            on_running=params['on_running'], on_finished=params['on_finished'],
            announce=header_writer(stream) if stream is not None else None,
            stage=params['stage'], limits=limits)
    except StartFailed as e:
        return dict(e.result, failed=True, msg=e.msg)
    except JobError as e:
        return dict(e.result, failed=True, msg=e.msg, job_started=False)
    result['changed'] = result['action'] == 'start'
    return result
