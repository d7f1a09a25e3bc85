# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the integration tests of async_task, async_wait and async_kill
(tests/integration/test_async_task.py, test_async_wait_kill.py). Not a test module.

Everything here looks at the real files and processes of the local target.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from _core import has_key

HERE = Path(__file__).resolve().parent
PLAYBOOKS = HERE / 'playbooks'

ALIAS_HELP = ('letters, digits, "_", "-" and ".", not starting with ".", at most 128 '
              'characters')
KILL_MSG = 'job %s was killed by asyncjobs.named.async_kill with %s'
RETRYING = 'FAILED - RETRYING'
# The strategy of every playbook run (make integration-mitogen sets AJ_STRATEGY; see
# conftest.py): '' for ansible-core's own (linear).
STRATEGY = os.environ.get('AJ_STRATEGY', '')
MITOGEN = bool(STRATEGY)
MITOGEN_SSH_SKIP = ('under Mitogen the async dir over SSH is the target\'s own ~/.ansible_async '
                    '(Mitogen\'s runner reads no ansible_async_dir, and the SSH session does not '
                    'carry the controller\'s ANSIBLE_ASYNC_DIR), which the tests cannot keep '
                    'per test; the local connection covers Mitogen')
NO_OUTPUT_UNDER_MITOGEN = ('output capture: under Mitogen the command forms run as '
                           'ansible.builtin.command, since Mitogen\'s async runner hangs '
                           'importing a collection\'s module_utils (async_command needs them)')


# --- documented return values ----------------------------------------------------------------

def documented_return(installed_collection, module):
    """The RETURN block of an installed module, parsed."""
    path = Path(installed_collection) / 'plugins' / 'modules' / ('%s.py' % module)
    for node in ast.parse(path.read_text(encoding='utf-8')).body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == 'RETURN'
                                                for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError('no RETURN in %s' % path)


# The returned: conditions that hold for every call about one job.
ALWAYS_FOR_ONE_JOB = ('always', 'unless O(jobs) is given')


def always_keys(installed_collection, module):
    """The keys a module documents as returned for every call about one job (``returned:
    always``, or ``unless O(jobs) is given``)."""
    doc = documented_return(installed_collection, module)
    keys = sorted(k for k, v in doc.items() if v.get('returned') in ALWAYS_FOR_ONE_JOB)
    assert keys, 'no key of %s is documented as always returned' % module
    return keys


def assert_always(result, keys, what=''):
    missing = [k for k in keys if not has_key(result, k)]
    assert not missing, '%s: documented (returned: always) but missing: %s\n%s' % (
        what, missing, json.dumps(result, indent=1, sort_keys=True))


def flag(version, value):
    """started/finished as native async_status returns them: bool from 2.19, int before."""
    return bool(value) if version >= (2, 19) else int(value)


# --- files -----------------------------------------------------------------------------------

def lines(path):
    """The lines of a file; [] when it does not exist."""
    try:
        return Path(path).read_text(encoding='utf-8').splitlines()
    except FileNotFoundError:
        return []


def job_file(async_dir, jid):
    with open(os.path.join(async_dir, jid), encoding='utf-8') as f:
        return json.load(f)


def alias_target(async_dir, alias):
    """The jid the name points to, or None."""
    try:
        return os.readlink(os.path.join(async_dir, 'jid_' + alias))
    except FileNotFoundError:
        return None


def wait_for(cond, timeout, what, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail('ansible-playbook exited (rc %s) before %s\n%s'
                        % (proc.returncode, what, proc.output()))
        time.sleep(0.1)
    pytest.fail('timed out after %s s waiting for %s' % (timeout, what))


# --- processes -------------------------------------------------------------------------------

def live_processes():
    """(pid, stat fields after the command name, argv) of each live (non-zombie) process."""
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                argv = [a for a in f.read().decode('utf-8', 'replace').split('\0') if a]
            with open('/proc/%s/stat' % name, encoding='utf-8', errors='replace') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (IOError, OSError, IndexError):
            continue
        if fields[0] != 'Z':
            yield int(name), fields, argv


def processes(match):
    """{pid: argv} of the live (non-zombie) processes whose argv matches."""
    return dict((pid, argv) for pid, _fields, argv in live_processes() if argv and match(argv))


def _process_tree():
    """{ppid: [(pid, sid, argv)]} of the live processes."""
    children = {}
    for pid, fields, argv in live_processes():
        children.setdefault(int(fields[1]), []).append((pid, int(fields[3]), argv))
    return children


def _controller_processes(pid):
    """The controller ``pid`` and the processes below it that belong to it: those in its
    session, its workers (forks of it, with its command line: ansible-core 2.19+ starts
    each in a session of its own) and what runs in their sessions (local module runs, ssh).
    A process below it that started a session of its own is a job's runner (Mitogen's
    forks one per job): it is left alone, with all below it."""
    tree = _process_tree()
    mine = [p for kids in tree.values() for p in kids if p[0] == pid]
    if not mine:
        return set()
    _pid, sid, argv = mine[0]
    sessions, found, todo = {sid}, {pid}, [pid]
    while todo:
        for child, child_sid, child_argv in tree.get(todo.pop(), []):
            if child_argv == argv:
                sessions.add(child_sid)  # a worker
            elif child_sid not in sessions:
                continue
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_controller(pid, sig=signal.SIGKILL):
    """Kill an ansible-playbook started in a session of its own, as a crash of it would:
    its process group and every process of it below (``_controller_processes``), so that
    no worker lives on to finish its task. They are stopped first (SIGSTOP, again until
    nothing new appears), so that none forks between the look and the kill. A job lives
    on: async_wrapper daemonizes it, and Mitogen's runner has a session of its own."""
    tree = set()
    for _attempt in range(5):
        new = _controller_processes(pid) - tree
        for p in new:
            try:
                os.kill(p, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        tree |= new
        if not new:
            break
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    for p in tree:
        try:
            os.kill(p, sig)
            if sig != signal.SIGKILL:
                os.kill(p, signal.SIGCONT)
        except ProcessLookupError:
            pass


def is_mitogen_jid(jid):
    """A job id of Mitogen for Ansible's runner (16 hex digits), not async_wrapper's."""
    return re.match(r'^[0-9a-f]{16}$', jid) is not None


def wrapper_processes(jid):
    """The processes that run a job: async_wrapper's (watcher, runner), by the jid prefix
    in argv; for a job of Mitogen's runner, the runner while it lives (the pid its job file
    records, in any test's async dir, with Mitogen's process title)."""
    if is_mitogen_jid(jid):
        return mitogen_runner(jid)
    prefix = jid.split('.', 1)[0]
    return processes(lambda argv: any(a.endswith('async_wrapper.py') for a in argv)
                     and prefix in argv)


def mitogen_runner(jid):
    """[pid] of the Mitogen runner of job ``jid`` while it lives, else []."""
    for path in glob.glob('/tmp/asyncjobs-it-*/*/async/%s' % jid) + glob.glob(
            os.path.expanduser('~/.ansible_async/%s' % jid)):
        try:
            pid = json.loads(Path(path).read_text(encoding='utf-8')).get('pid')
            argv = Path('/proc/%d/cmdline' % pid).read_bytes()
        except (OSError, ValueError, TypeError):
            continue
        if b'mitogen' in argv:
            return [pid]
    return []


def timeout_msg(jid, seconds):
    """What the runner of job ``jid`` writes when it reaches its time limit."""
    if is_mitogen_jid(jid):
        return 'Job reached maximum time limit of %d seconds.' % seconds
    return 'Timeout exceeded'


def sleep_processes(*durations):
    """`sleep <duration>` processes for the given (unique) durations."""
    wanted = set(str(d) for d in durations)
    return processes(lambda argv: os.path.basename(argv[0]) == 'sleep' and len(argv) == 2
                     and argv[1] in wanted)


# --- the strategy --------------------------------------------------------------------------

def mitogen_env(strategy, async_dir=None):
    """The environment that runs playbooks under Mitogen for Ansible's ``strategy``; with
    ``async_dir``, where Mitogen's runner puts the jobs (it ignores ansible_async_dir, and
    a local connection's target inherits the controller's environment)."""
    import ansible_mitogen  # the package of the venv that runs the tests
    plugins = os.path.join(os.path.dirname(ansible_mitogen.__file__), 'plugins', 'strategy')
    env = {'ANSIBLE_STRATEGY': strategy, 'ANSIBLE_STRATEGY_PLUGINS': plugins,
           'ANSIBLE_DEPRECATION_WARNINGS': 'False'}
    if async_dir:
        env['ANSIBLE_ASYNC_DIR'] = str(async_dir)
    return env


def strategy_env(evars):
    """The environment of a playbook run with extra vars ``evars`` under AJ_STRATEGY; {}
    without. The async dir stays in ansible_async_dir too, for the playbooks that name it
    (the variable and the environment agree, as async_task requires under Mitogen)."""
    if not STRATEGY:
        return {}
    return mitogen_env(STRATEGY, evars.get('ansible_async_dir'))


# --- ansible-playbook in the background ------------------------------------------------------

class BackgroundPlaybook:
    """An ansible-playbook started with Popen in a session of its own."""

    def __init__(self, proc, log, cmd):
        self.proc = proc
        self.log = log
        self.cmd = cmd

    @property
    def pid(self):
        return self.proc.pid

    def poll(self):
        return self.proc.poll()

    @property
    def returncode(self):
        return self.proc.returncode

    def output(self):
        return self.log.read_text(encoding='utf-8', errors='replace') if self.log.exists() else ''

    def wait(self, timeout=300):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail('ansible-playbook timed out after %s s\n%s' % (timeout, self.output()))

    def kill(self, sig=signal.SIGKILL):
        """Kill the controller with its workers and their local module runs
        (``kill_controller``)."""
        kill_controller(self.proc.pid, sig)

    def describe(self):
        return 'command: %s\nrc: %s\n--- output ---\n%s' % (
            ' '.join(self.cmd), self.proc.returncode, self.output())


def background_starter(request, ansible_playbook, installed_collection, session_dir, test_dirs):
    """A function start(playbook, extra_vars=None, args=(), inventory='local', env=None) ->
    BackgroundPlaybook. It runs like the run_playbook fixture (same extra vars, config and
    environment, updated with ``env``), but in the background, in a new session, with
    stdout+stderr to a log.
    Whatever is still running when the test ends is killed (pass pytest's ``request``)."""
    started = []
    collections = Path(installed_collection).parents[2]

    def start(playbook, extra_vars=None, args=(), inventory='local', env=None):
        if inventory == 'ssh' and MITOGEN:
            pytest.skip(MITOGEN_SSH_SKIP)
        if inventory in ('ssh', 'local'):
            inv = request.getfixturevalue('%s_inventory' % inventory)
        else:
            inv = Path(inventory)  # a test's own inventory file
        evars = {'out_dir': str(test_dirs.out_dir), 'ansible_async_dir': str(test_dirs.async_dir)}
        evars.update(extra_vars or {})
        evars = {k: v for k, v in evars.items() if v is not None}
        name = uuid.uuid4().hex[:8]
        evars_file = test_dirs.root / ('bg-vars-%s.json' % name)
        evars_file.write_text(json.dumps(evars), encoding='utf-8')
        log = test_dirs.root / ('bg-%s.log' % name)
        extra_env, env = env or {}, dict(os.environ)
        env.update({
            'ANSIBLE_CONFIG': str(session_dir / 'ansible.cfg'),
            'ANSIBLE_COLLECTIONS_PATH': str(collections),
            'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'False',
            'ANSIBLE_FORCE_COLOR': '0',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_HOST_KEY_CHECKING': 'False',
            'ANSIBLE_RETRY_FILES_ENABLED': 'False',
            'PYTHONDONTWRITEBYTECODE': '1',
        })
        if 'ANSIBLE_STRATEGY' not in extra_env:
            env.update(strategy_env(evars))
        env.update(extra_env)
        cmd = [ansible_playbook, '-i', str(inv), '-e', '@%s' % evars_file] + list(args) \
            + [str(PLAYBOOKS / playbook)]
        with open(log, 'w', encoding='utf-8') as out:
            proc = subprocess.Popen(cmd, cwd=str(HERE), env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        bg = BackgroundPlaybook(proc, log, cmd)
        started.append(bg)
        return bg

    def reap():
        for bg in started:
            if bg.poll() is None:
                bg.kill()
                bg.proc.wait(10)

    request.addfinalizer(reap)
    return start
