# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helpers shared by the collection's action plugins (private)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ansible_version
from ansible.utils.display import Display
from ansible.utils.vars import isidentifier, merge_hash

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import validate
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.jobs_input import job_refs

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import (
    JOB_STATES, RUNNING)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import (
    JOBS_HEADER, MAX_SLICE_SECONDS, PROGRESS_EVERY, SLICE_SECONDS)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import failpoints as _failpoints


display = Display()


def _core_version():
    return tuple(int(p) for p in ansible_version.split('.')[:2])


# ansible-core 2.19 turned async_status's started/finished from ints into bools.
BOOL_STATES = _core_version() >= (2, 19)


def action_fail(msg, result=None):
    """AnsibleActionFail for ``msg`` (and the keys of ``result``), with no traceback in the
    task result: the one way every action plugin of the collection fails.

    Before 2.19, AnsibleActionFail stores ``traceback.format_exc()`` as ``exception``: raised
    while handling a JobError that is a full traceback of it (shown at -vvv, registered with
    the result), and 'NoneType: None' otherwise. The message says it all: drop it.
    """
    error = AnsibleActionFail(msg, result=result or {})
    if isinstance(getattr(error, 'result', None), dict):
        error.result.pop('exception', None)  # 2.19: a copy, and never a traceback anyway
    return error


def native_types(result):
    """Give started/finished the type native async_status gives on this ansible-core."""
    for key in ('started', 'finished'):
        if key in result:
            result[key] = bool(result[key]) if BOOL_STATES else int(result[key])
    return result


def native_prefill(ansible_job_id=None):
    """The keys native async_status always returns, before the module's are merged."""
    return dict(started=False, finished=False, stdout='', stderr='', stdout_lines=[],
                stderr_lines=[], ansible_job_id=ansible_job_id)


def job_result(jid, status):
    """The task result for a job's ``status``, as native async_status gives it: its pre-filled
    keys, the status, ``stdout_lines``/``stderr_lines`` split as ActionBase splits a module's
    (a status that arrives inside another module's result was not split), and
    ``started``/``finished`` of the native type."""
    result = merge_hash(native_prefill(jid), status)
    for key in ('stdout', 'stderr'):
        if key in status and key + '_lines' not in status:
            result[key + '_lines'] = (status[key] or '').splitlines()
    return native_types(result)


def _job_name(status, ref):
    """'j1.2 (build)': a job in a progress line or a message."""
    alias = status.get('ansible_job_alias') or ref.get('alias')
    return '%s%s' % (status.get('ansible_job_id'), (' (%s)' % alias) if alias else '')


def fmt_duration(seconds):
    """``2m15s``, ``1h02m03s``, ``45s``: a running time in a progress line."""
    seconds = int(round(max(0.0, float(seconds))))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return '%dh%02dm%02ds' % (hours, minutes, secs)
    if minutes:
        return '%dm%02ds' % (minutes, secs)
    return '%ds' % secs


def progress_line(status, ref, host, waited):
    """The line printed for a job still running after a wait slice: ``migrate (j12.34) on
    db3: running for 2m15s``, with the job's last output line when its output is captured.
    ``waited`` (seconds this task waited) stands in when the job's start is not known."""
    jid = status.get('ansible_job_id')
    name = status.get('ansible_job_alias') or ref.get('alias')
    line = '%s on %s: running for %s' % (
        '%s (%s)' % (name, jid) if name else jid, host,
        fmt_duration(status.get('running_for', waited)))
    for tail in (status.get('stdout_tail'), status.get('stderr_tail')):
        lines = [t.strip() for t in tail or () if t.strip()]
        if lines:
            return '%s | %s' % (line, lines[-1])
    return line


def slice_seconds(ages, remaining=None):
    """How long the next wait slice on the host lasts: as long as the youngest of the jobs
    waited for has been running (``ages``, seconds; none known: SLICE_SECONDS), at least
    SLICE_SECONDS and at most MAX_SLICE_SECONDS, and no longer than the ``remaining`` budget
    (None: no limit). A slice returns as soon as its jobs are done, so a longer slice costs
    no latency: it saves the remote commands (and the controller's work) of the slices it
    replaces. Young jobs, the most likely to end soon, get the shortest."""
    known = [a for a in ages if isinstance(a, (int, float))]
    seconds = max(SLICE_SECONDS, min(MAX_SLICE_SECONDS, min(known) if known else 0.0))
    return seconds if remaining is None else min(seconds, remaining)


class ProgressTicker:
    """While a wait slice longer than ``every`` seconds runs on the host, print ``lines(
    elapsed)`` (elapsed: seconds since the slice began) every ``every`` seconds from a thread
    of the worker, so that progress lines keep coming (display sends them to the main
    process through its queue, as the worker's own lines)."""

    def __init__(self, every, lines):
        self.every = every
        self.lines = lines
        self.stopped = threading.Event()
        self.thread = None
        self.began = None

    def __enter__(self):
        self.began = time.time()
        self.thread = threading.Thread(target=self._run, name='asyncjobs-progress', daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stopped.wait(self.every):
            try:
                for line in self.lines(time.time() - self.began):
                    display.display(line)
            except Exception:  # pylint: disable=broad-except
                return  # a progress line is never worth a failed task

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(5)
        return False


def many_result(results):
    """The task result for the per-job ``results`` of a ``jobs`` option: changed when any
    is, failed when any failed, with a message that names each job that failed."""
    failed = [r for r in results if r.get('failed')]
    out = dict(results=results, changed=any(bool(r.get('changed')) for r in results))
    if failed:
        out.update(failed=True, msg='%d of %d jobs failed: %s' % (
            len(failed), len(results), '; '.join(
                '%s: %s' % (_job_name(r, {}), r.get('msg') or 'state %s' % r.get('state'))
                for r in failed)))
    return out


def _named_variable(value, task_vars, option, give):
    """(name, value) of the ``option`` given as ``value``: a string that can name a variable
    is the name of a registered variable, looked up in ``task_vars``; anything else (a
    string that cannot, such as a number templated to a string before ansible-core 2.19)
    is the value itself, with name None."""
    if not (isinstance(value, str) and isidentifier(value)):
        return None, value
    if value not in task_vars:
        raise action_fail('%s: no variable named %r is defined for this host; give %s'
                          % (option, str(value), give))
    return str(value), task_vars[value]


def jobs_of(jobs, task_vars):
    """The jobs of a ``jobs`` option (refs of job_refs), checked on the controller; given as
    a variable's name as for ``job`` (``_named_variable``)."""
    _name, jobs = _named_variable(
        jobs, task_vars, 'jobs', 'a list of job ids, names or registered async results, a '
        'loop\'s registered result, or the name of a variable that holds one')
    try:
        return job_refs(jobs)
    except JobError as e:
        raise action_fail(e.msg)


def jid_of(job, task_vars):
    """The job id held by ``job``: a registered variable's name, or the result itself."""
    name, job = _named_variable(
        job, task_vars, 'job', 'the name of a variable registered by an async task (poll: 0), '
        'or that result itself')
    name = name or 'the given result'
    if not isinstance(job, Mapping) or not job.get('ansible_job_id'):
        why = ''
        if isinstance(job, Mapping) and job.get('skipped'):
            why = ' (the task that registered it was skipped)'
        raise action_fail(
            'job: %s is not an async job result: it has no ansible_job_id%s; register the '
            'result of a task run with async and poll: 0' % (name, why))
    jid = str(job['ansible_job_id'])
    try:
        validate(jid=jid)
    except JobError as e:
        raise action_fail(e.msg)
    return jid


def wait_budget(args):
    """Seconds to wait in all from ``timeout`` or ``retries`` x ``delay``; None for no limit."""
    for key in ('timeout', 'retries', 'delay'):
        if args.get(key) is not None and args[key] < 0:
            raise action_fail('%s must be 0 or more, not %s' % (key, args[key]))
    if args.get('timeout') is not None:
        return float(args['timeout'])
    if args.get('retries') is not None:
        return float(args['retries']) * float(args['delay'])
    return None


DEFAULT_ASYNC_DIR = '~/.ansible_async'


def under_mitogen(action):
    """True when Mitogen for Ansible runs ``action``'s tasks (strategies mitogen_linear and
    mitogen_free): its connection plugins derive from ansible_mitogen's Connection, and it
    runs async tasks with its own runner, not with async_wrapper. The one test of Mitogen
    in the collection: the async dir rule below and async_task's start path follow it."""
    return any(cls.__module__.split('.')[0] == 'ansible_mitogen'
               for cls in type(action._connection).__mro__)


def mitogen_async_dir_error(configured, task_env, controller_env):
    """Why the async dir options cannot work under Mitogen for Ansible, or None.

    Mitogen's runner writes job files to ANSIBLE_ASYNC_DIR of the target process's own
    environment (for a local connection, the controller's), else ``~/.ansible_async``: it
    ignores the ``async_dir`` option (``ansible_async_dir``, ansible.cfg) and the task's
    ``environment``. ``configured``: the option's value; ``task_env``: the task's
    environment (a dict); ``controller_env``: the controller's environment."""
    if 'ANSIBLE_ASYNC_DIR' in task_env:
        return ('ANSIBLE_ASYNC_DIR is set in the task\'s environment, which Mitogen for '
                'Ansible\'s async runner does not read: it writes job files to '
                'ANSIBLE_ASYNC_DIR of the target\'s own environment, else %s. Remove it from '
                'the task\'s environment (or run without the Mitogen strategy)'
                % DEFAULT_ASYNC_DIR)
    seen = controller_env.get('ANSIBLE_ASYNC_DIR') or DEFAULT_ASYNC_DIR
    if configured != seen:
        return ('the async dir is set to %r (ansible_async_dir or async_dir in ansible.cfg), '
                'which Mitogen for Ansible\'s async runner ignores: it writes job files to '
                'ANSIBLE_ASYNC_DIR of the target\'s own environment, else %s, and so do '
                'these modules under Mitogen. Unset it, or set ANSIBLE_ASYNC_DIR in the '
                'environment that starts the target\'s Python (for a local connection, the '
                'controller\'s), or run without the Mitogen strategy'
                % (configured, DEFAULT_ASYNC_DIR))
    return None


def split_header(stdout, key):
    """(header, the rest of ``stdout``): the line that a runner or module of ours wrote to
    its stdout before it waits (a JSON object with the one key ``key``: the start runner's
    ``START_HEADER``, async_wait's ``JOBS_HEADER``), so that the controller knows the job even
    when the connection dies during the wait; and the output without that line, which is
    the result for ansible-core's parser. ``header`` is None when there is none (the output
    was cut before it, or nothing was to be waited for)."""
    text = stdout.decode('utf-8', 'replace') if isinstance(stdout, bytes) else (stdout or '')
    lines = text.splitlines(True)
    for i, line in enumerate(lines):
        if key not in line:
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        header = data.get(key) if isinstance(data, dict) and len(data) == 1 else None
        if header:
            return header, ''.join(lines[:i] + lines[i + 1:])
    return None, stdout


class ClientOutput:
    """While in use (``with``), records the stdout of each run of the ssh connection's
    client (``_bare_run``), which ansible-core drops when it raises for a failed
    connection (a cut, a network that stops answering, the sshd killed: the client's exit
    code 255). Other connection plugins: nothing is recorded (their failures carry no
    output either)."""

    def __init__(self, connection):
        self.connection = connection
        self.seen = []
        self.own = None

    def last(self):
        return self.seen[-1] if self.seen else None

    def __enter__(self):
        bare_run = getattr(self.connection, '_bare_run', None)
        if bare_run is None or not callable(bare_run):
            return self
        seen = self.seen

        def watched(*args, **kwargs):
            # checkrc=False: the client's output even for its exit code 255, which _bare_run
            # would otherwise raise for with the output dropped (when it sent data on stdin,
            # as with pipelining); ansible-core's retry wrapper of _run then raises
            # AnsibleConnectionFailure for the 255 as it does for every other command.
            if len(args) < 4:
                kwargs['checkrc'] = False
            res = bare_run(*args, **kwargs)
            if isinstance(res, tuple) and len(res) == 3:
                seen.append(res[1])
            return res
        self.own = vars(self.connection).get('_bare_run')
        self.connection._bare_run = watched
        return self

    def __exit__(self, *exc):
        if self.own is not None:
            self.connection._bare_run = self.own  # an instance's own (tests)
        elif '_bare_run' in vars(self.connection):
            del self.connection._bare_run
        return False


def execute_taking_header(execute, connection, key, keep, *args, **kwargs):
    """``execute(*args, **kwargs)`` (a ``_low_level_execute_command``) with the header line
    ``key`` taken out of its output and given to ``keep(header)`` when it came, also when
    the connection failed after it (``ClientOutput``); returns the result without it."""
    with ClientOutput(connection) as client:
        try:
            res = execute(*args, **kwargs)
        except Exception:
            header = split_header(client.last(), key)[0]
            if header:
                keep(header)
            raise
    if isinstance(res, dict) and res.get('stdout'):
        header, res['stdout'] = split_header(res['stdout'], key)
        if header:
            keep(header)
    return res


def lost_output_why(result):
    """What ansible-core said of an output it could not parse (the ssh client killed, say):
    its message, with the return code when there is one."""
    why = result.get('msg') or 'no result'
    if result.get('rc') not in (None, 0):
        why = '%s; rc %s' % (why, result['rc'])
    return why


def own_module_execution(action):
    """Whether ``action`` runs modules with ansible-core's own machinery
    (``_execute_module``, ``_low_level_execute_command``), which the collection's hooks
    go into; not under Mitogen for Ansible, which replaces it."""
    return (not under_mitogen(action)
            and type(action)._execute_module is ActionBase._execute_module
            and type(action)._low_level_execute_command is ActionBase._low_level_execute_command)


def lost_wait_result(host, cause, jobs, rerun, unreachable):
    """The task result when a wait slice's connection failed (``unreachable``: ansible-core
    raised for it) or its result was lost (the ssh client killed): ``jobs`` are (ref, last
    status or None) of the jobs still waited for; the result names them (``ansible_job_id``,
    ``ansible_job_alias``; for several, ``results``), says that they keep running on the host
    and what running the task again does (``rerun``)."""
    named = []
    entries = []
    for ref, status in jobs:
        status = status or {}
        jid = ref.get('jid') or status.get('ansible_job_id')
        alias = ref.get('alias') or status.get('ansible_job_alias')
        named.append('%s%s' % ('job %s' % jid if jid else 'the job',
                               ' named %r' % alias if alias else ''))
        entry = dict(ansible_job_id=jid, state=status.get('state', RUNNING), finished=False)
        if alias:
            entry['ansible_job_alias'] = alias
        entries.append(entry)
    msg = ('%s while this task waited for %s. %s running when last seen and %s on the host: '
           'running this task again %s' % (
               cause, ', '.join(named), 'It was' if len(jobs) == 1 else 'They were',
               'keeps running' if len(jobs) == 1 else 'keep running', rerun))
    result = dict(msg=msg, changed=False)
    result['unreachable' if unreachable else 'failed'] = True
    if len(entries) == 1:
        result.update(entries[0])
    else:
        result['results'] = entries
    return result


class AsyncJobsAction(ActionBase):
    """Base of the collection's thin action plugins: validate, find the async dir,
    call one module."""

    # What running the task again does with a job it waited for, for the message of a lost
    # connection (async_task: attaches to it).
    rerun_does = 'waits for it again (or async_wait with its name or id)'

    def async_dir(self):
        """The async dir as the shell option ``async_dir`` gives it (``ANSIBLE_ASYNC_DIR``,
        ``ansible_async_dir``, default ``~/.ansible_async``), unexpanded: the module expands
        it on the host by the rule async_wrapper uses when it writes the job file
        (``os.path.expanduser`` as the module's user, become included). That costs no round
        trip, and our modules and the wrapper agree on the directory by construction.

        Under Mitogen for Ansible: None, after checking that the options agree with where
        its runner writes (``mitogen_async_dir_error``). The module then finds the dir by
        the runner's rule on the host (``_shared.names.runner_async_dir``)."""
        configured = self.get_shell_option('async_dir', default=DEFAULT_ASYNC_DIR)
        if not under_mitogen(self):
            return configured
        task_env = {}
        self._compute_environment_string(task_env)
        error = mitogen_async_dir_error(configured, task_env, os.environ)
        if error:
            raise action_fail(error)
        return None

    def validated_args(self, spec):
        """The task's arguments, checked against ``spec`` (the module's ArgumentSpec, which
        the module checks them against again on the host), and its job name and id (when
        ``alias`` is one name, not a list of patterns)."""
        _validation, args = self.validate_argument_spec(**spec.validation())
        alias = args.get('alias')
        try:
            validate(alias=alias if not isinstance(alias, list) else None, jid=args.get('jid'))
        except JobError as e:
            raise action_fail(e.msg)
        return args

    def failpoints(self):
        """The failpoints a test switched on in the controller's environment
        (failpoints), armed in this worker too; None (nearly always)."""
        spec = _failpoints.from_environ()
        if spec and not _failpoints.armed():
            _failpoints.arm(spec)
        return spec

    def run_module(self, name, module_args, task_vars, result=None, header=None):
        """Run one of our modules with the async dir (and failpoints a test switched on)
        added; merge into ``result``.

        ``header``: the key of a header line the module writes before it waits (async_wait's
        ``JOBS_HEADER``), taken out of its output here; what it says is in
        ``self.module_header`` even when the connection failed after it came (None when it
        did not come)."""
        module_args = dict((k, v) for k, v in module_args.items() if v is not None)
        module_args['_async_dir'] = self.async_dir()
        failpoints = self.failpoints()
        if failpoints:
            module_args['_failpoints'] = failpoints
        self.module_header = None
        if header:
            self._low_level_execute_command = self._header_taker(header)
        try:
            module_result = self._execute_module(module_name='asyncjobs.named.%s' % name,
                                                 module_args=module_args, task_vars=task_vars)
        finally:
            if header:
                del self._low_level_execute_command
        return merge_hash(result or {}, module_result)

    def _header_taker(self, key):
        """``_low_level_execute_command`` (this instance's, for one module run) that takes
        the module's header line (``key``) out of its output into ``self.module_header``,
        also from the output of a command whose connection failed."""
        execute = type(self)._low_level_execute_command.__get__(self)

        def keep(header):
            self.module_header = header

        def taking(*args, **kwargs):
            return execute_taking_header(execute, self._connection, key, keep, *args, **kwargs)
        return taking

    def tail_lines(self, args):
        """The option ``tail_lines``, checked; 0 when the task is ``no_log``: nothing of a
        job's output is returned (nor printed) then."""
        if args['tail_lines'] < 0:
            raise action_fail('tail_lines must be 0 or more, not %s' % args['tail_lines'])
        return 0 if self._task.no_log else args['tail_lines']

    def wait_job(self, task_vars, budget, cleanup, jid=None, alias=None, first=None, began=None,
                 tail_lines=0):
        """Wait for one job on the host, one slice per module run, until it is done or
        ``budget`` seconds (None: no limit) are spent. Returns the task result.

        ``first`` is the job's status after a first slice already waited (by async_task's
        start, since ``began``); the slices go on from there."""
        ref = dict((k, v) for k, v in (('jid', jid), ('alias', alias)) if v is not None)

        def one_slice(refs, seconds):
            if len(refs[0]) > 1:
                # Held by its jid, its name kept for cleanup: a jobs entry takes both.
                return self._wait_refs(refs, seconds, cleanup, task_vars, tail_lines)
            header = self._header_wanted(refs)
            status = self.run_module('async_wait', dict(refs[0], _slice=seconds, cleanup=cleanup,
                                                        tail_lines=tail_lines, _header=header),
                                     task_vars, header=JOBS_HEADER if header else None)
            if status.get('state') not in JOB_STATES:
                return status  # the module failed: unknown name or jid, bad input
            return [status]

        done = self._wait_slices(task_vars, budget, [ref], one_slice,
                                 first=None if first is None else [first], began=began)
        if isinstance(done, Mapping):
            return done
        return job_result(done[0]['ansible_job_id'], done[0])

    def wait_jobs(self, task_vars, budget, cleanup, refs, tail_lines=0):
        """Wait for several jobs (refs of job_refs) on the host, all in one module run per
        slice. Returns the task result: ``results`` in the order of ``refs``."""
        done = self._wait_slices(
            task_vars, budget, refs,
            lambda pending, seconds: self._wait_refs(pending, seconds, cleanup, task_vars,
                                                     tail_lines))
        if isinstance(done, Mapping):
            return done
        return many_result([job_result(s['ansible_job_id'], s) for s in done])

    def _named_by_header(self, refs, pending):
        """Give the pending ``refs`` the job ids of async_wait's header, when it came."""
        header = getattr(self, 'module_header', None)
        if isinstance(header, list) and len(header) == len(pending):
            for i, entry in zip(pending, header):
                if isinstance(entry, dict) and entry.get('ansible_job_id'):
                    refs[i] = dict(refs[i], jid=entry['ansible_job_id'])

    def _header_wanted(self, refs):
        """Whether async_wait should write its header (the jobs it resolved) before a slice:
        when a job of ``refs`` is known by its name only (the first slice of a wait by
        name), so that a lost connection can still name its job."""
        return (any('jid' not in ref for ref in refs) and own_module_execution(self)) or None

    def _wait_refs(self, refs, seconds, cleanup, task_vars, tail_lines=0):
        """One slice of async_wait for ``refs``: their statuses, or the failed result."""
        header = self._header_wanted(refs)
        res = self.run_module('async_wait', dict(jobs=refs, _slice=seconds, cleanup=cleanup,
                                                 tail_lines=tail_lines, _header=header),
                              task_vars, header=JOBS_HEADER if header else None)
        return res['results'] if 'results' in res and not res.get('failed') else res

    @staticmethod
    def _progress_lines(jobs, host, waited):
        """``lines(elapsed)`` for ProgressTicker: the progress line of each of ``jobs``
        ((status after the last slice, ref)), ``elapsed`` seconds later (its output line as
        of that slice)."""
        def lines(elapsed):
            out = []
            for status, ref in jobs:
                later = dict(status)
                if isinstance(later.get('running_for'), (int, float)):
                    later['running_for'] = later['running_for'] + elapsed
                out.append(progress_line(later, ref, host, waited + elapsed))
            return out
        return lines

    def _wait_slices(self, task_vars, budget, refs, one_slice, first=None, began=None):
        """Run ``one_slice(pending refs, seconds)`` (a module run that waits on the host and
        returns the statuses of those jobs, or a failed result) until no job of ``refs``
        runs or ``budget`` is spent. Returns the statuses in the order of ``refs``, each with
        ``waited`` (seconds until it was seen done), or the failed result.

        Each job is held by the jid first resolved, whatever happens to its name since;
        ``first`` are statuses from a first slice already waited, since ``began``."""
        start = time.time() if began is None else began
        host = (task_vars or {}).get('inventory_hostname', '')
        refs = list(refs)
        done = [None] * len(refs)
        pending = list(range(len(refs)))
        statuses = first
        while True:
            if statuses is not None:  # a slice has ended
                now = time.time()
                for i, status in zip(pending, statuses):
                    refs[i] = dict(refs[i], jid=status['ansible_job_id'])
                    status['waited'] = round(now - start, 3)
                    done[i] = status
                pending = [i for i in pending if done[i]['state'] == RUNNING]
                if not pending or self._task.check_mode:
                    break
                if budget is not None and now - start >= budget:
                    for i in pending:
                        done[i].update(failed=True, msg='Ran out of attempts.')
                    break
                if not self._task.no_log:
                    # One line per slice and job, at the default verbosity, as native's
                    # retries print theirs; with no_log nothing of the job is shown.
                    for i in pending:
                        display.display(progress_line(done[i], refs[i], host, now - start))
                display.v('%s: %s %s still running after %.0f s%s' % (
                    host, 'job' if len(pending) == 1 else 'jobs',
                    ', '.join(_job_name(done[i], refs[i]) for i in pending),
                    now - start, '' if budget is None else ' of %.0f s' % budget))
            remaining = None if budget is None else max(0.0, budget - (time.time() - start))
            seconds = slice_seconds([done[i].get('running_for') for i in pending
                                     if done[i] is not None], remaining)
            self.module_header = None
            try:
                ticker = contextlib.nullcontext()
                if seconds > PROGRESS_EVERY and not self._task.no_log and statuses is not None:
                    ticker = ProgressTicker(PROGRESS_EVERY, self._progress_lines(
                        [(done[i], refs[i]) for i in pending], host, time.time() - start))
                with ticker:
                    statuses = one_slice([refs[i] for i in pending], seconds)
            except AnsibleConnectionFailure as e:
                self._named_by_header(refs, pending)
                # Unreachable, as ansible-core says it, but naming the jobs.
                return lost_wait_result(
                    host, 'the connection to %s failed (%s)' % (
                        host, str(getattr(e, 'message', None) or e).strip()),
                    [(refs[i], done[i]) for i in pending], self.rerun_does, unreachable=True)
            if isinstance(statuses, Mapping):
                if statuses.get('_ansible_parsed') is False:
                    # The module's output was lost (the ssh client killed, say).
                    self._named_by_header(refs, pending)
                    lost = lost_wait_result(
                        host, 'the result of a wait slice on %s was lost (%s)'
                        % (host, lost_output_why(statuses)),
                        [(refs[i], done[i]) for i in pending], self.rerun_does,
                        unreachable=False)
                    lost.update((k, statuses[k]) for k in ('rc', 'module_stderr') if k in statuses)
                    return lost
                return statuses
        return done
