# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one-step start under what used to break it (issue 17), each beside native async:

* a module that is not Python as the job (a WANT_JSON sh module, a compiled one): the
  start runner runs on async_wrapper's interpreter, not the module's;
* naming that fails after the job started (a directory where the name's link goes), with
  a script job: the job's tmp dir stays, the job runs to its end once, and once the
  obstacle is gone the re-run attaches and returns its real result;
* a 75 KB value in the task's environment: the wrapper command travels once, so it fits
  where it fits for native async (with and without pipelining);
* ansible_shell_executable runs the wrapper command, as it runs native's.

Locally as root and over SSH with become to the unprivileged ajjob. The comparisons with
native run in one playbook per place (start_compat.yml), each test reading its part; every
test here is in the matrix subset, so each of these holds on every ansible-core row.
"""

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from _async_task_lib import MITOGEN_SSH_SKIP, STRATEGY, job_file, wait_for
from _jobs_lib import kill_job

HERE = os.path.dirname(os.path.abspath(__file__))
WHERE = [pytest.param('local', id='local'), pytest.param('ssh', id='ssh')]


def become(inventory):
    return {'become_job': inventory == 'ssh'}


# --- native and async_task side by side: start_compat.yml, once per place -----------------

@pytest.fixture(scope='module')
def binary_library(tmp_path_factory):
    """A library dir with hello_bin, compiled from playbooks/files/hello_bin.c."""
    cc = shutil.which('cc') or shutil.which('gcc')
    if not cc:
        pytest.fail('no C compiler (cc): .ci/run installs gcc')
    lib = tmp_path_factory.mktemp('library')
    lib.chmod(0o755)
    out = lib / 'hello_bin'
    subprocess.run([cc, '-O1', '-o', str(out), os.path.join(HERE, 'playbooks', 'files', 'hello_bin.c')],
                   check=True)
    return str(lib)


HOSTS = dict(local='localhost', ssh='sshhost')


@pytest.fixture(scope='module')
def compat_run(request, playbook_once, binary_library, session_dir, local_inventory,
               ssh_inventory):
    """({host: dumps}, {host: shell log}) of start_compat.yml, run once for both places at
    once (an inventory of both hosts, each with its own async dir and logging shell)."""
    base = Path(tempfile.mkdtemp(prefix='compat-', dir=str(session_dir)))
    base.chmod(0o1777)  # where ajssh and ajjob reach the logging shell, its log, their dir
    hosts, logs = {}, {}
    for place, path in (('local', local_inventory), ('ssh', ssh_inventory)):
        (name, hostvars), = yaml.safe_load(path.read_text())['all']['hosts'].items()
        log = base / ('shell-%s.log' % place)
        log.touch()
        log.chmod(0o666)
        shell = base / ('logging-sh-%s' % place)
        shell.write_text('#!/bin/sh\n[ "$1" != -c ] || printf "%%s\\n" "$2" | head -n 1 >> %s\n'
                         'exec /bin/sh "$@"\n' % shlex.quote(str(log)))
        shell.chmod(0o755)
        hosts[name] = dict(hostvars, logging_shell=str(shell), become_job=place == 'ssh',
                           ansible_async_dir=str(base / ('async-%s' % place)))
        logs[name] = log
    inventory = base / 'inventory-both.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': hosts}}))
    r, _async_dir, _dirs = playbook_once(
        request, 'start_compat.yml', inventory=str(inventory),
        extra_vars=dict(big='x' * 75000, ansible_async_dir=None),
        env={'ANSIBLE_LIBRARY': binary_library})
    return dict((name, r.load('compat-%s' % name)) for name in hosts), logs


@pytest.fixture(params=['local', 'ssh'])
def compat(request, compat_run):
    """(dumps, shell log) of start_compat.yml for one place."""
    if STRATEGY:
        pytest.skip(MITOGEN_SSH_SKIP)
    dumps, logs = compat_run
    host = HOSTS[request.param]
    return dumps[host], logs[host]


@pytest.mark.matrix
@pytest.mark.wrapper_only('the one-step start (Mitogen starts in steps)')
@pytest.mark.parametrize('kind,msg', [('sh', 'hello from sh'), ('bin', 'hello from a binary')])
def test_a_non_python_module_as_the_job(compat, kind, msg):
    """The start runner runs on async_wrapper's interpreter, not on the module's (sh for a
    WANT_JSON script, none for a binary)."""
    dumps, _log = compat
    native, named = dumps[kind + '_native'], dumps[kind + '_named']
    assert (native['msg'], native['greeting']) == (msg, 'native'), native
    assert (named['failed'], named['state'], named['msg'], named['greeting']) == (
        False, 'succeeded', msg, 'named'), named
    assert named['interpreter'] == native['interpreter']
    assert named['changed'] == native['changed']


@pytest.mark.matrix
@pytest.mark.wrapper_only('the one-step start (Mitogen starts in steps)')
def test_a_large_task_environment(compat):
    """A 75 KB value in the task's environment, with pipelining on and off: the wrapper
    command travels once, so it fits where it fits for native async."""
    dumps, _log = compat
    assert [r['stdout'] for r in dumps['env_native']] == ['75000', '75000'], dumps['env_native']
    assert [(r['failed'], r['rc'], r['stdout']) for r in dumps['env_named']] == [
        (False, 0, '75000')] * 2, dumps['env_named']


def wrapper_commands(log):
    """The commands the logging shell ran that are async_wrapper commands themselves (a word
    of the command is the wrapper's path, the next one a jid prefix), not commands that
    carry one inside a word (the runner's argument) or that change the wrapper's mode."""
    found = []
    for line in log.read_text().splitlines():
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if any(w.endswith('async_wrapper.py') and re.match(r'^j\d+$', n)
               for w, n in zip(words, words[1:])):
            found.append(line)
    return found


@pytest.mark.matrix
@pytest.mark.wrapper_only('the one-step start (Mitogen starts in steps)')
def test_the_shell_executable_runs_the_wrapper_command(compat):
    """ansible_shell_executable runs async_task's async_wrapper command, as it runs
    native's: the logging shell saw both."""
    dumps, log = compat
    assert dumps['shell_native']['stdout'] == 'native'
    assert dumps['shell_named']['stdout'] == 'named'
    assert len(wrapper_commands(log)) == 2, log.read_text()


# --- naming that fails after the start ---------------------------------------------------------------

def _finished(async_dir, jid):
    """The job file's content once it holds the job's result (async_wrapper's has no
    ``started`` key then), else None."""
    data = job_file(async_dir, jid)
    return None if data.get('started') and not data.get('finished') else data


@pytest.mark.matrix
@pytest.mark.wrapper_only('the one-step start (Mitogen starts in steps)')
@pytest.mark.parametrize('inventory', WHERE)
def test_naming_that_fails_after_the_start_keeps_the_job(run_playbook, test_dirs, async_dir,
                                                         inventory):
    counter = test_dirs.root / 'counter'
    evars = dict(become(inventory), alias='obstacle', counter=str(counter))
    first = run_playbook('task_naming_obstacle.yml', inventory=inventory,
                         extra_vars=dict(evars, obstacle=True)).load('run')
    jid = first.get('ansible_job_id')
    try:
        assert first['failed'] is True and jid, first
        assert first['job_started'] is True
        assert first['msg'].startswith('job %s was started and keeps running on the host, but '
                                       'naming it failed: ' % jid), first['msg']
        assert "running the task again names it and attaches to it" in first['msg']
        # the job runs to its end: its script was still in the tmp dir
        done = wait_for(lambda: _finished(async_dir, jid), 30, 'job %s to finish' % jid)
        assert (done['rc'], done['stdout']) == (0, 'done'), done
        os.rmdir(os.path.join(async_dir, 'jid_obstacle'))
        again = run_playbook('task_naming_obstacle.yml', inventory=inventory,
                             extra_vars=dict(evars, obstacle=False)).load('run')
        assert (again['failed'], again['attached'], again['ansible_job_id']) == (False, True, jid)
        assert (again['rc'], again['stdout']) == (0, 'done')
        assert counter.read_text().count('run ') == 1
    finally:
        if jid:
            kill_job(jid)
