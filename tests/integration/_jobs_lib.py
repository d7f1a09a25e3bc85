# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the integration tests of async_status_id and async_alias
(test_design_examples.py, test_job_states.py, test_status_cleanup.py, test_async_alias.py,
test_bad_input.py) and by others that read job files and processes. Not a test module itself.

Everything here reads the real filesystem and real processes of the local target.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import yaml

from _core import has_key

ALIAS_HELP = ('letters, digits, "_", "-" and ".", not starting with ".", at most 128 '
              'characters')
JID_HELP = ('a job id looks like "j123456789012.4242" (async_wrapper: optional "j", digits, '
            '".", digits) or "66c6c6863f27278e" (Mitogen for Ansible: 16 hex digits)')
ORPHAN_MSG = ('job %s never finished: %s (killed, crashed or the host rebooted); '
              'its result is lost')
WHY_GONE = 'its async_wrapper process is gone'
WHY_EMPTY = 'its job file is empty and its async_wrapper process is gone'
WHY_JSON = 'its job file is not valid JSON and its async_wrapper process is gone'

# What ansible-core itself puts in ``exception`` when there is no traceback, for native
# modules and action plugins alike: 2.19 adds '(traceback unavailable)' to every failed
# result without one; 2.16's AnsibleActionFail (raised by validate_argument_spec and by
# action plugins) records traceback.format_exc() outside any handler, 'NoneType: None\n'.
NO_TRACEBACK = ('(traceback unavailable)', 'NoneType: None\n')


# --- types that depend on the controller's ansible-core ----------------------------------------

def flag(version, value):
    """started/finished as native async_status returns them: bool from 2.19, int before."""
    return bool(value) if tuple(version) >= (2, 19) else int(value)


def assert_flag(version, result, key, value):
    expected = flag(version, value)
    actual = result.get(key, '<missing>')
    assert actual == expected and type(actual) is type(expected), (
        '%s: expected %r (%s), got %r (%s) in %s'
        % (key, expected, type(expected).__name__, actual, type(actual).__name__, result))


# --- results ------------------------------------------------------------------------------------

def items(results):
    """Per-item results of a looped task (its ``results`` list), without loop bookkeeping."""
    out = []
    for r in results:
        r = dict(r)
        for k in ('item', 'ansible_loop_var', 'ansible_index_var', 'invocation'):
            r.pop(k, None)
        out.append(r)
    return out


def assert_clean_failure(result, what=''):
    """Never a traceback: a failure has a message and none of the keys of a crash."""
    assert 'module_stderr' not in result, (what, result)
    assert 'module_stdout' not in result, (what, result)
    assert result.get('exception', NO_TRACEBACK[0]) in NO_TRACEBACK, (what, result)
    if result.get('failed'):
        assert isinstance(result.get('msg'), str) and result['msg'], (what, result)


def assert_failed_with(result, msg, what=''):
    assert result.get('failed') is True, (what, result)
    assert result.get('msg') == msg, '%s\nexpected msg: %r\n     got msg: %r\n%s' % (
        what, msg, result.get('msg'), result)
    assert_clean_failure(result, what)


# --- RETURN documentation ---------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def return_spec(installed_collection, module):
    """RETURN of an installed module, parsed as YAML (read from the file, not imported)."""
    path = installed_collection / 'plugins' / 'modules' / ('%s.py' % module)
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == 'RETURN'
                                                for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError('no RETURN in %s' % path)


def _check_type(key, doc, value, version, nullable):
    what = '%s=%r' % (key, value)
    if value is None:
        assert nullable, 'RETURN %s: null where not documented to be: %s' % (key, what)
        return
    t = doc['type']
    if key in ('started', 'finished'):
        expected = bool if tuple(version) >= (2, 19) else int
        assert value.__class__ is expected, what  # exact type: bool is a subclass of int
    elif t == 'bool':
        assert value.__class__ is bool, what  # exact type, not just an int
    elif t == 'int':
        assert value.__class__ is int, what  # exact type, not a bool
    elif t == 'str':
        assert isinstance(value, str), what
    elif t == 'list':
        assert isinstance(value, list), what
        if doc.get('elements') == 'str':
            assert all(isinstance(v, str) for v in value), what
    elif t == 'dict':
        assert isinstance(value, dict), what
    elif t != 'raw':
        raise AssertionError('RETURN %s: type %s unknown to this test' % (key, t))
    if 'choices' in doc:
        assert value in doc['choices'], what


# The `returned:` conditions of async_status_id's RETURN, as predicates over the call's
# context (by: 'jid'|'alias', mode, state). A condition the test does not know fails, so
# that a documentation change is reflected here.
def _status_conditions(ctx, result):
    single = not ctx['jobs']
    return {
        'always': True,
        'unless O(jobs) is given': single,
        'when O(jobs) is given': not single,
        'when looked up by O(alias)': ctx['by'] == 'alias',
        'when O(mode) is V(cleanup) or V(full_cleanup), unless O(jobs) is given': (
            single and ctx['mode'] in ('cleanup', 'full_cleanup')),
        # "or its result has one" cannot be known from outside: required for orphaned only
        'when the job is orphaned, or its result has one': (
            True if result.get('state') == 'orphaned' else None),
        # a Mitogen job's file while it runs: its runner's pid (and data)
        # killed by async_kill: its record has the signal (a job killed otherwise has not)
        'when the job was killed by M(asyncjobs.named.async_kill), unless O(jobs) is given': (
            None if not single or result.get('state') != 'killed' else
            True if 'killed by asyncjobs.named.async_kill' in str(result.get('msg')) else None),
        # whether async_task started the job (its meta file) cannot be told from the result
        'for a job that async_task started in one step (not under Mitogen for Ansible)': (
            None if ctx['mode'] != 'status' or result.get('state') == 'absent' else
            'containment' in result or None),
        "with O(mode=status), while a job of Mitogen for Ansible's runner is unfinished": (
            None if ctx['mode'] != 'status' else
            True if result.get('state') == 'running'
            and re.match(r'^[0-9a-f]{16}$', str(result.get('ansible_job_id'))) else None),
    }


def check_status_return(spec, result, version, by, mode='status', jobs=False):
    """Every key async_status_id's RETURN documents is in ``result`` when its
    ``returned:`` condition holds, with the documented type and choices. With ``jobs``,
    ``result`` is the task's result for a ``jobs`` list (and ``by`` is not used)."""
    ctx = dict(by=by, mode=mode, jobs=jobs)
    conditions = _status_conditions(ctx, result)
    absent_job = by == 'alias' and result.get('state') == 'absent'
    for key, doc in spec.items():
        returned = doc['returned']
        assert returned in conditions, 'RETURN %s: unknown returned: %r' % (key, returned)
        needed = conditions[returned]
        if needed:
            assert has_key(result, key), 'RETURN documents %s (%s), missing from %s' % (
                key, returned, result)
        if needed is False and key == 'erased':
            assert key not in result, 'erased returned in mode %s: %s' % (mode, result)
        if key in result:
            _check_type(key, doc, result[key], version,
                        nullable=absent_job and key in ('ansible_job_id', 'results_file'))
    if jobs:
        return
    if mode in ('cleanup', 'full_cleanup') and 'erased' in result:
        if mode == 'cleanup' and by == 'jid':
            assert isinstance(result['erased'], str), result
        else:
            assert isinstance(result['erased'], list), result


def check_alias_return(spec, result, moved):
    conditions = {'always': True, 'when the name was moved from another job': moved}
    for key, doc in spec.items():
        returned = doc['returned']
        assert returned in conditions, 'RETURN %s: unknown returned: %r' % (key, returned)
        if conditions[returned]:
            assert key in result, 'RETURN documents %s (%s), missing from %s' % (key, returned, result)
        else:
            assert key not in result, '%s returned though %r does not hold: %s' % (key, returned, result)
        if key in result:
            _check_type(key, doc, result[key], (0, 0), nullable=False)


# --- files of the async dir -----------------------------------------------------------------------

def snapshot(path):
    """Everything in a directory: links with their target, files with a hash of their content."""
    out = {}
    if not os.path.isdir(path):
        return out
    for name in sorted(os.listdir(path)):
        p = os.path.join(path, name)
        if os.path.islink(p):
            out[name] = ('link', os.readlink(p))
        elif os.path.isfile(p):
            with open(p, 'rb') as f:
                out[name] = ('file', hashlib.sha256(f.read()).hexdigest())
        else:
            out[name] = ('other',)
    return out


def file_state(path):
    st = os.lstat(path)
    with open(path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns, st.st_ino, digest)


def write_json(path, data):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f)


# --- processes -------------------------------------------------------------------------------------

def _cmdline(pid):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode('utf-8', 'replace') for a in raw.split(b'\0') if a]


def wrapper_pids(jid):
    """Live async_wrapper processes of ``jid`` (argv holds the wrapper path and the prefix)."""
    prefix = jid.split('.', 1)[0]
    pids = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        args = _cmdline(name)
        if any(a.endswith('async_wrapper.py') for a in args) and prefix in args:
            pids.append(int(name))
    return sorted(pids)


def kill_job(jid, timeout=10, pids_of=wrapper_pids):
    """SIGKILL every async_wrapper process of ``jid`` (watcher and runner) and the
    runner's process group (the module and its children). Returns the wrapper pids.
    ``pids_of(jid)``: the processes that run the job (default: async_wrapper's; a test of
    Mitogen's runner passes one that knows it too)."""
    pids = list(pids_of(jid))
    own = os.getpgid(0)
    groups = set()
    for pid in pids:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for group in groups - {own}:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + timeout
    while pids_of(jid):
        assert time.time() < deadline, 'the runner of %s is still alive: %s' % (jid, pids_of(jid))
        time.sleep(0.05)
    return pids


def fake_wrapper(prefix):
    """A process whose command line looks like async_wrapper's for ``prefix``: for job files
    the test writes itself, whose job must look alive."""
    code = 'import time; time.sleep(120)'
    return subprocess.Popen([sys.executable, '-c', code, '/nonexistent/async_wrapper.py', prefix, '120'],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


class Reaper:
    """Kills, at the end of a test, the jobs it started that may still run."""

    def __init__(self):
        self.jids = []
        self.procs = []

    def add(self, *jids):
        self.jids.extend(j for j in jids if j)

    def spawn_fake_wrapper(self, prefix):
        proc = fake_wrapper(prefix)
        self.procs.append(proc)
        deadline = time.time() + 10
        while not wrapper_pids(prefix + '.1'):
            assert time.time() < deadline, 'fake wrapper did not start'
            time.sleep(0.02)
        return proc

    def close(self):
        for jid in self.jids:
            kill_job(jid)
        for proc in self.procs:
            proc.kill()
            proc.wait()


def new_reaper(request):
    """A Reaper that kills the test's jobs when the test ends (pass pytest's ``request``)."""
    r = Reaper()
    request.addfinalizer(r.close)
    return r
