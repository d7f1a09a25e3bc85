# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""async_task's warning when its wait runs the hosts in batches of forks.

A fleet of five local hosts (each with its own async dir) runs
playbooks/fork_batches.yml with few forks: the one-task form with a wait budget warns
exactly once per task, with the number of batches that forks or throttle make; not
with fork_batches_warning false, not when the hosts fit in the forks, not in check
mode, not for the two-task form.
"""

import re

import pytest
import yaml

from conftest import TARGET_PYTHON

HOSTS = ['h%d' % i for i in range(1, 6)]
WARNING = re.compile(r"\[WARNING\]: async_task '([^']*)' waits on each host in its fork: "
                     r"(\d+) hosts with (.*?) run in (\d+) batches, one after the other")


@pytest.fixture
def fleet(test_dirs):
    """An inventory of five local hosts. They share the test's async dir (Mitogen for
    Ansible's runner takes it from the controller's environment, not per host): each host's
    jobs have names of their own."""
    hosts = dict((h, dict(ansible_connection='local', ansible_python_interpreter=TARGET_PYTHON))
                 for h in HOSTS)
    path = test_dirs.root / 'fleet.yml'
    path.write_text(yaml.safe_dump({'all': {'hosts': hosts}}))
    return str(path)


def warnings(r):
    """(task, hosts, limit, batches) of each warning in the run's output (whitespace
    joined: ansible-core before 2.19 wraps warnings)."""
    text = ' '.join((r.stdout + '\n' + r.stderr).split())
    return [(m.group(1), int(m.group(2)), m.group(3), int(m.group(4)))
            for m in WARNING.finditer(text)]


def play(run_playbook, fleet, forks, throttle=0, check_only=False):
    return run_playbook('fork_batches.yml', inventory=fleet, args=('--forks', str(forks)),
                        extra_vars=dict(throttle=throttle, check_only=check_only))


# In the matrix: where a worker's warning goes and how it is deduplicated differs by
# ansible-core (printed by the worker's display before 2.19, captured into the task result
# and printed by the controller from 2.19).
@pytest.mark.matrix
def test_batches_warned_once_silenced_by_the_option(run_playbook, fleet):
    r = play(run_playbook, fleet, forks=2)
    assert warnings(r) == [('Batched', 5, 'forks 2', 3)], r.describe()
    assert 'fork_batches_warning: false silences this' in ' '.join(r.stderr.split())


def test_throttle_smaller_than_forks(run_playbook, fleet):
    r = play(run_playbook, fleet, forks=5, throttle=2)
    assert warnings(r) == [('Batched', 5, 'throttle 2 (forks 5)', 3)], r.describe()


def test_none_when_the_hosts_fit_in_check_mode_or_two_tasks(run_playbook, fleet):
    r = play(run_playbook, fleet, forks=5)
    assert warnings(r) == [], r.describe()
    r = play(run_playbook, fleet, forks=2, check_only=True)
    assert warnings(r) == [], r.describe()
    assert 'waits on each host in its fork' not in r.stdout + r.stderr
