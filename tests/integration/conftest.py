# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration test harness for asyncjobs.named: real ansible-playbook runs.

Run it through the Makefile (``make integration`` / ``make integration-py36``): the
Makefile builds and installs the collection into .build/collections (the tests only
ever see that installed artifact, never the source tree) and sets up the SSH target.

Conventions
===========

Playbooks
    live in ``tests/integration/playbooks/*.yml`` and use ``hosts: all``. Each test
    inventory has exactly one host: ``localhost`` (``inventory='local'``, connection
    local, as root) or ``sshhost`` (``inventory='ssh'``: ssh to 127.0.0.1:2222 as the
    unprivileged user ``ajssh``, who has passwordless sudo; the unprivileged become user
    is ``ajjob``). Both hosts use ``ansible_python_interpreter = TARGET_PYTHON`` and
    have the variables ``login_user`` and ``job_user`` (``ajjob``). For become to the
    unprivileged user write ``become: true`` and ``become_user: "{{ job_user }}"``.

Running a playbook (fixture ``run_playbook``)::

    def test_x(run_playbook, async_dir):
        r = run_playbook('x.yml', inventory='ssh', extra_vars={'n': 3})
        status = r.load('status')          # what the playbook dumped as status.json
        r.rc, r.stdout, r.stderr           # raw results
        run_playbook('y.yml', check=False)  # rc != 0 allowed: assert on r.rc yourself

    ``run_playbook(playbook, inventory='local'|'ssh'|path, extra_vars=None, check=True,
    env=None, timeout=300, args=())`` runs the ansible-playbook that sits next to
    ``sys.executable`` (so pytest in .venv runs ansible-core 2.19, pytest in .venv-216
    runs 2.16) with ANSIBLE_COLLECTIONS_PATH=.build/collections, no colours and an empty
    ansible.cfg. With check=True a non-zero rc fails the test, showing the output.

Extra vars given to every run (``-e @file``, so types are kept)
    ``out_dir``: a fresh directory of the test on the controller, where playbooks
    dump registered results as JSON; the test reads them back with ``r.load(name)``.
    ``ansible_async_dir``: the test's own async dir (fixture ``async_dir``), so that tests
    never see each other's jobs. It is an absolute path that does not exist yet, under a
    per-test directory with mode 1777: whichever user runs the job (root, ajssh, ajjob)
    creates it, owned by that user, exactly like ~/.ansible_async. Pass
    ``extra_vars={'ansible_async_dir': None}`` to use the target's default instead
    (``~/.ansible_async`` of the remote/become user). Extra vars win over everything:
    a playbook cannot override these two.

Dumping results from a playbook
    ::

        - ansible.builtin.import_tasks: tasks/dump.yml
          vars:
            dump:
              job: "{{ job }}"
              status: "{{ status }}"

    writes ``{{ out_dir }}/job.json`` and ``status.json`` (``copy`` delegated to
    localhost, ``become: false``). Equivalent inline task::

        - ansible.builtin.copy:
            content: "{{ status | to_json }}"
            dest: "{{ out_dir }}/status.json"
          delegate_to: localhost
          become: false

    To dump a failure, register it with ``ignore_errors: true`` (or ``failed_when:
    false``) and dump the registered value.

Environment variables
    ``TARGET_PYTHON``: interpreter of the targets (default /usr/bin/python3, else this
    python). ``ANSIBLE_COLLECTIONS_PATH``: defaults to .build/collections.
    ``AJ_SSH_DIR`` / ``AJ_SSH_PORT``: as for setup_ssh.sh (.build/ssh, 2222).
    ``AJ_KEEP_TMP=1``: keep the per-test directories (under /tmp/asyncjobs-it-*).
    ``AJ_PIPELINING``: ANSIBLE_PIPELINING of the runs (default True: a start is then one
    remote command; tests of the start without pipelining set it off themselves).
    ``AJ_STRATEGY=mitogen_linear`` (or ``mitogen_free``): run every playbook under that
    Mitogen for Ansible strategy (``make integration-mitogen``). Mitogen's async runner
    ignores ``ansible_async_dir``: the test's async dir is also given as ANSIBLE_ASYNC_DIR
    in the controller's environment, which the local connection's target inherits.
    Over SSH the target would not: ``inventory='ssh'`` skips the test under Mitogen.
    Tests of what only the async_wrapper path has are marked ``wrapper_only(reason)``
    and skipped under Mitogen with that reason.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from _async_task_lib import MITOGEN_SSH_SKIP, STRATEGY, strategy_env

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PLAYBOOKS = HERE / 'playbooks'
BUILD = REPO / '.build'

COLLECTIONS = Path(os.environ.get('ANSIBLE_COLLECTIONS_PATH') or BUILD / 'collections')
SSH_DIR = Path(os.environ.get('AJ_SSH_DIR') or BUILD / 'ssh')
SSH_PORT = int(os.environ.get('AJ_SSH_PORT') or 2222)
LOGIN_USER = 'ajssh'
JOB_USER = 'ajjob'


def _default_target_python():
    if os.environ.get('TARGET_PYTHON'):
        return os.environ['TARGET_PYTHON']
    if os.access('/usr/bin/python3', os.X_OK):
        return '/usr/bin/python3'
    return sys.executable


TARGET_PYTHON = _default_target_python()


def _ansible_bin(name):
    """The ansible command installed next to the python running pytest."""
    bindir = os.path.dirname(sys.executable)
    path = shutil.which(name, path=bindir)
    if not path:
        pytest.exit('%s not found in %s: run pytest with the venv python (make integration)'
                    % (name, bindir), returncode=3)
    return path


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stderr: str
    cmd: list
    out_dir: Path

    def load(self, name):
        """The JSON the playbook dumped as ``{{ out_dir }}/<name>.json``."""
        path = self.out_dir / ('%s.json' % name)
        if not path.exists():
            pytest.fail('playbook did not dump %s (have: %s)\n%s'
                        % (path.name, sorted(p.name for p in self.out_dir.glob('*.json')),
                           self.describe()))
        return json.loads(path.read_text())

    def dumps(self):
        """All dumped results, by name."""
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.out_dir.glob('*.json'))}

    def describe(self, limit=20000):
        def tail(s):
            return s if len(s) <= limit else '...[cut]...\n' + s[-limit:]
        return ('command: %s\nrc: %s\n--- stdout ---\n%s\n--- stderr ---\n%s'
                % (' '.join(self.cmd), self.rc, tail(self.stdout), tail(self.stderr)))


@dataclass
class SshTarget:
    host: str = 'sshhost'
    address: str = '127.0.0.1'
    port: int = SSH_PORT
    login_user: str = LOGIN_USER
    job_user: str = JOB_USER
    key: Path = SSH_DIR / 'id_ed25519'
    homes: dict = field(default_factory=dict)

    def home(self, user):
        return pwd.getpwnam(user).pw_dir

    def uid(self, user):
        return pwd.getpwnam(user).pw_uid

    def default_async_dir(self, user):
        """Where native async puts jobs of ``user`` when ansible_async_dir is not set."""
        return os.path.join(self.home(user), '.ansible_async')


# --- session-wide set-up -------------------------------------------------------------------------

@pytest.fixture(scope='session')
def target_python():
    return TARGET_PYTHON


@pytest.fixture(scope='session')
def ansible_playbook():
    return _ansible_bin('ansible-playbook')


@pytest.fixture(scope='session')
def ansible_version(ansible_playbook):
    """ansible-core version of the controller under test, as a tuple of ints, e.g. (2, 19, 14)."""
    out = subprocess.run([ansible_playbook, '--version'], capture_output=True, text=True,
                         check=False).stdout  # a failure shows in the assert below
    m = re.search(r'core (\d+)\.(\d+)\.(\d+)', out)
    assert m, out
    return tuple(int(x) for x in m.groups())


@pytest.fixture(scope='session')
def installed_collection():
    path = COLLECTIONS / 'ansible_collections' / 'asyncjobs' / 'named'
    if not (path / 'MANIFEST.json').is_file():
        pytest.exit('collection not installed in %s: run `make build` (or make integration)'
                    % COLLECTIONS, returncode=3)
    return path


@pytest.fixture(scope='session')
def session_dir():
    """Base of all per-test directories: world-traversable, so that ajssh/ajjob reach them."""
    base = Path(tempfile.mkdtemp(prefix='asyncjobs-it-'))
    base.chmod(0o755)
    (base / 'ansible.cfg').write_text('# empty on purpose: no stray configuration\n')
    yield base
    if os.environ.get('AJ_KEEP_TMP') != '1':
        shutil.rmtree(str(base), ignore_errors=True)


def _write_inventory(path, hostname, hostvars):
    hostvars = dict(hostvars, ansible_python_interpreter=TARGET_PYTHON,
                    login_user=LOGIN_USER, job_user=JOB_USER)
    path.write_text(yaml.safe_dump({'all': {'hosts': {hostname: hostvars}}}, default_flow_style=False))
    return path


@pytest.fixture(scope='session')
def local_inventory(session_dir):
    return _write_inventory(session_dir / 'inventory-local.yml', 'localhost',
                            {'ansible_connection': 'local'})


@pytest.fixture(scope='session')
def ssh_target():
    """The SSH target set up by tests/integration/setup_ssh.sh; fails if it is not there."""
    t = SshTarget()
    hint = 'run `make ssh-setup` (tests/integration/setup_ssh.sh, as root) first'
    if not t.key.is_file():
        pytest.fail('SSH key %s missing: %s' % (t.key, hint))
    try:
        socket.create_connection((t.address, t.port), timeout=5).close()
    except OSError as e:
        pytest.fail('no sshd on %s:%s (%s): %s' % (t.address, t.port, e, hint))
    for user in (t.login_user, t.job_user):
        try:
            pwd.getpwnam(user)
        except KeyError:
            pytest.fail('user %s missing: %s' % (user, hint))
    return t


@pytest.fixture(scope='session')
def ssh_inventory(session_dir, ssh_target):
    return _write_inventory(session_dir / 'inventory-ssh.yml', ssh_target.host, {
        'ansible_host': ssh_target.address,
        'ansible_port': ssh_target.port,
        'ansible_user': ssh_target.login_user,
        'ansible_ssh_private_key_file': str(ssh_target.key),
        'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
        'ansible_become_method': 'sudo',
    })


# --- per-test directories ----------------------------------------------------------------------

@dataclass
class CaseDirs:
    root: Path       # per-test dir, mode 1777
    out_dir: Path    # controller-side dumps (owned by root)
    async_dir: Path  # not created: the job's user creates it


def make_case_dirs(session_dir, name):
    """A fresh per-test directory (mode 1777) with ``out`` and the (not yet created) async dir."""
    name = re.sub(r'[^A-Za-z0-9_.-]+', '_', name)[:80]
    root = Path(tempfile.mkdtemp(prefix=name + '-', dir=str(session_dir)))
    root.chmod(0o1777)
    out = root / 'out'
    out.mkdir()
    return CaseDirs(root=root, out_dir=out, async_dir=root / 'async')


@pytest.fixture
def test_dirs(request, session_dir):
    return make_case_dirs(session_dir, request.node.name)


@pytest.fixture
def async_dir(test_dirs):
    """This test's own async dir (str), passed to every run_playbook as ansible_async_dir."""
    return str(test_dirs.async_dir)


@pytest.fixture
def out_dir(test_dirs):
    return test_dirs.out_dir


# --- running playbooks ---------------------------------------------------------------------------

def run_ansible_playbook(ansible_playbook, session_dir, dirs, playbook, inventory, extra_vars=None,
                         check=True, env=None, timeout=300, args=(), tag=''):
    """Run ``playbook`` as the fixtures below do (see the module docstring); ``inventory`` is
    a path; ``dirs`` the CaseDirs of the test."""
    pb = Path(playbook)
    if not pb.is_absolute():
        pb = PLAYBOOKS / pb
    if not pb.is_file():
        pytest.fail('no playbook %s' % pb)
    evars = {'out_dir': str(dirs.out_dir), 'ansible_async_dir': str(dirs.async_dir)}
    evars.update(extra_vars or {})
    evars = {k: v for k, v in evars.items() if v is not None}
    evars_file = Path(tempfile.mkstemp(prefix='extra-vars-%s' % tag, suffix='.json',
                                       dir=str(dirs.root))[1])
    evars_file.write_text(json.dumps(evars))

    run_env = dict(os.environ)
    run_env.update({
        'ANSIBLE_CONFIG': str(session_dir / 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': str(COLLECTIONS),
        'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'False',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_RETRY_FILES_ENABLED': 'False',
        'PYTHONDONTWRITEBYTECODE': '1',
        # Pipelining on, as on a fleet (a start is one remote command); the tests of the
        # start without it set it off (AJ_PIPELINING=False: every test without it).
        'ANSIBLE_PIPELINING': os.environ.get('AJ_PIPELINING') or 'True',
    })
    if 'ANSIBLE_STRATEGY' not in (env or {}):  # a test that picks its strategy has it all
        run_env.update(strategy_env(evars))
    run_env.update(env or {})

    cmd = [ansible_playbook, '-i', str(inventory), '-e', '@%s' % evars_file] + list(args) + [str(pb)]
    try:
        # check=False: the return code is checked below, with the output, when check is set
        proc = subprocess.run(cmd, cwd=str(HERE), env=run_env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, check=False)
        result = PlaybookResult(proc.returncode, proc.stdout, proc.stderr, cmd, dirs.out_dir)
    except subprocess.TimeoutExpired as e:
        def _s(b):
            return b.decode(errors='replace') if isinstance(b, bytes) else (b or '')
        result = PlaybookResult(-1, _s(e.stdout), _s(e.stderr), cmd, dirs.out_dir)
        pytest.fail('ansible-playbook timed out after %ss\n%s' % (timeout, result.describe()))
    if check and result.rc != 0:
        pytest.fail('ansible-playbook failed (test dir %s, kept with AJ_KEEP_TMP=1)\n%s'
                    % (dirs.root, result.describe()), pytrace=False)
    return result


def pytest_configure(config):
    config.addinivalue_line('markers', 'wrapper_only(reason): tests what only the async_wrapper '
                            'path has; skipped under Mitogen (AJ_STRATEGY) with the reason')
    config.addinivalue_line(
        'markers', 'matrix: part of the subset that `make matrix` runs on every other ansible-core '
        'version and target Python: every module and every guarantee (exactly once, crash '
        're-run, finished while away, kill, states), locally and over SSH with become')
    config.addinivalue_line(
        'markers', 'mitogen: a test of jobs of Mitogen for Ansible\'s runner (test_mitogen.py); '
        '`make integration-mitogen` runs these with the matrix subset')


# The longest scopes (a module, or a class) first, so that pytest-xdist's loadscope starts
# them at once and the other worker does the short ones meanwhile, instead of one long scope
# running alone at the end of the run.
LONG_FIRST = ('test_failpoints.py::TestMitogen::', 'test_failpoints.py::TestSsh',
              'test_failpoints.py::TestMitogenLater',
              'test_async_task_one_step.py', 'test_failpoints.py::TestLocal',
              'test_start_faults.py', 'test_async_task.py')


def _weight(item):
    for i, scope in enumerate(LONG_FIRST):
        if scope in item.nodeid:
            return i
    return len(LONG_FIRST)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_weight)  # stable: the order within a scope stays
    if not STRATEGY:
        return
    for item in items:
        mark = item.get_closest_marker('wrapper_only')
        if mark is not None:
            item.add_marker(pytest.mark.skip(reason='not under Mitogen: %s' % (
                mark.args[0] if mark.args else mark.kwargs.get('reason', ''))))


def _inventory(request, inventory):
    if inventory == 'local':
        return request.getfixturevalue('local_inventory')
    if inventory == 'ssh':
        if STRATEGY:
            pytest.skip(MITOGEN_SSH_SKIP)
        return request.getfixturevalue('ssh_inventory')
    return Path(inventory)


@pytest.fixture
def run_playbook(request, ansible_playbook, installed_collection, session_dir, test_dirs):
    """run_playbook(playbook, inventory='local', extra_vars=None, check=True, env=None,
    timeout=300, args=()) -> PlaybookResult.  See the module docstring."""

    def run(playbook, inventory='local', extra_vars=None, check=True, env=None,
            timeout=300, args=()):
        return run_ansible_playbook(ansible_playbook, session_dir, test_dirs, playbook,
                                    _inventory(request, inventory), extra_vars=extra_vars,
                                    check=check, env=env, timeout=timeout, args=args)

    return run


@pytest.fixture(scope='session')
def module_runner():
    """make_module_runner(request): for module-scoped fixtures, which pass their own
    ``request``; see there."""
    return make_module_runner


def make_module_runner(request, name=None):
    """(run, CaseDirs) for a module-scoped fixture: ``run(playbook, inventory='local',
    extra_vars=None, check=True, env=None, timeout=300, args=())`` runs playbooks as
    run_playbook does, all in one test directory (and async dir) of the fixture's own, so
    that one run can be checked by several tests, each about one behaviour."""
    session_dir = request.getfixturevalue('session_dir')
    request.getfixturevalue('installed_collection')
    ansible_playbook = request.getfixturevalue('ansible_playbook')
    dirs = make_case_dirs(session_dir, name or request.node.name)

    def run(playbook, inventory='local', extra_vars=None, **kwargs):
        return run_ansible_playbook(ansible_playbook, session_dir, dirs, playbook,
                                    _inventory(request, inventory), extra_vars=extra_vars,
                                    **kwargs)

    return run, dirs


@pytest.fixture(scope='session')
def playbook_once():
    """run_once(request, playbook, inventory='local', extra_vars=None, gated=False, ...):
    for module-scoped fixtures, which pass their own ``request``."""
    return run_once


def run_once(request, playbook, inventory='local', extra_vars=None, gated=False, **kwargs):
    """For a module-scoped fixture (``request`` is its own): run ``playbook`` once, in a
    test directory of its own, and return (PlaybookResult, async dir, CaseDirs). With
    ``gated``, the variable ``gate`` names a file that exists while the playbook runs
    (jobs can wait on it)."""
    run, dirs = make_module_runner(request, '%s-%s' % (request.node.name, Path(playbook).stem))
    evars = dict(extra_vars or {})
    gate = dirs.root / 'gate'
    if gated:
        gate.write_text('', encoding='utf-8')
        gate.chmod(0o644)
        evars['gate'] = str(gate)
    try:
        result = run(playbook, inventory=inventory, extra_vars=evars, **kwargs)
    finally:
        if gated and gate.exists():
            gate.unlink()
    return result, str(dirs.async_dir), dirs


def pytest_report_header(config):
    bindir = os.path.dirname(sys.executable)
    pb = shutil.which('ansible-playbook', path=bindir)
    version = '?'
    if pb:
        out = subprocess.run([pb, '--version'], capture_output=True, text=True,
                             check=False).stdout  # best effort: only for the report header
        version = out.splitlines()[0] if out else '?'
    return ['ansible-playbook: %s (%s)' % (pb, version),
            'TARGET_PYTHON: %s' % TARGET_PYTHON,
            'collections: %s' % COLLECTIONS]
