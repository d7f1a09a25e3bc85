# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by every unit test under tests/unit.

The helper functions and classes are in unit_helpers.py, next to this file: loading this
conftest.py (pytest's default, prepend import mode) puts this directory on sys.path, so
the test modules import them with ``from unit_helpers import ...``.

Everything works on real files in real temporary directories and on real processes;
nothing of the filesystem is mocked.
"""

import os
import selectors
import shutil
import subprocess
import tempfile

import pytest

from unit_helpers import FakeMitogenRunner, FakeWrapper, JobDir


@pytest.fixture
def async_dir(tmp_path):
    """A real, empty async dir (as a str, as the modules receive it)."""
    d = tmp_path / 'async'
    d.mkdir()
    return str(d)


@pytest.fixture
def outside(tmp_path):
    """A directory next to the async dir, holding files that must never be touched."""
    d = tmp_path / 'outside'
    d.mkdir()
    return str(d)


@pytest.fixture
def linked_async(tmp_path):
    """(real, link): an async dir and a symlink to it (``~/.ansible_async -> /data/async``)."""
    real = tmp_path / 'data' / 'async'
    real.mkdir(parents=True)
    link = tmp_path / '.ansible_async'
    link.symlink_to(real)
    return str(real), str(link)


@pytest.fixture
def fake_wrapper():
    """A real process whose command line is async_wrapper's for a fresh jid, killed and
    reaped at the end of the test."""
    wrapper = FakeWrapper()
    try:
        yield wrapper
    finally:
        wrapper.kill()


@pytest.fixture
def mitogen_runner():
    """A real process in the place of Mitogen's async runner (unit_helpers.FakeMitogenRunner),
    killed with its process group at the end of the test."""
    runner = FakeMitogenRunner()
    try:
        yield runner
    finally:
        runner.kill()


@pytest.fixture
def world_readable_tmp():
    """A real temp dir other users can traverse (``tmp_path``'s parents are 0700), for the
    tests that drop privileges."""
    d = tempfile.mkdtemp(prefix='asyncjobs-unit-')
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d)


@pytest.fixture
def job_dir(tmp_path, async_dir):
    """A remote tmp dir with ansible-core's real async_wrapper.py and a job that succeeds at
    once (unit_helpers.JobDir); its ``cmd`` starts the job in ``async_dir``."""
    return JobDir(tmp_path, async_dir)


@pytest.fixture
def late_select(monkeypatch):
    """The first ``selectors.PollSelector.select`` after each ``subprocess.Popen`` returns
    no event once that process has exited (not reaped): as when one of run_command's 1 s
    waits for output timed out just before the command wrote its last line and exited (on
    a loaded host). ansible-core's run_command then stops reading, and what the pipes hold
    is never read. Later calls select as usual. Yields the list of the Popens started."""
    started = []
    real_init, real_select = subprocess.Popen.__init__, selectors.PollSelector.select

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        started.append(self)

    def select(self, timeout=None):
        if not started or getattr(started[-1], 'late_select_done', False):
            return real_select(self, timeout)
        started[-1].late_select_done = True
        os.waitid(os.P_PID, started[-1].pid, os.WEXITED | os.WNOWAIT)
        return []
    monkeypatch.setattr(subprocess.Popen, '__init__', init)
    monkeypatch.setattr(selectors.PollSelector, 'select', select)
    yield started


def _job_cgroups():
    """The job cgroups (_host.containment) under this machine's cgroup mounts."""
    import glob
    return set(glob.glob('/sys/fs/cgroup/*/asyncjobs_named/j*')
               + glob.glob('/sys/fs/cgroup/*/**/asyncjobs_named/j*', recursive=True))


@pytest.fixture(scope='session', autouse=True)
def remove_job_cgroups():
    """Jobs that the unit tests start as root run in cgroups of their own; the empty ones
    made during the session are removed at its end (a status read after a job ends does
    that in real use, and many tests never read one)."""
    before = _job_cgroups()
    yield
    for path in sorted(_job_cgroups() - before, reverse=True):
        try:
            os.rmdir(path)
        except OSError:
            pass
