# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress while waiting: one line per wait slice at the default verbosity, as native's
retries print theirs, with the job's last output line; with no_log, none, nothing of the
job in the output, and no output log on the host."""

import json
import os
import re

import pytest

from _async_task_lib import MITOGEN


@pytest.mark.parametrize('hide', [False, True])
def test_progress_line_per_slice(run_playbook, async_dir, hide):
    r = run_playbook('task_progress.yml', extra_vars={'hide': hide, 'seconds': 18})
    # the job's last output line ends the line when its output is captured
    captured = not hide and not MITOGEN  # NO_OUTPUT_UNDER_MITOGEN
    lines = re.findall(r'^long-(?:shown|hidden) \((?:j\d+\.\d+|[0-9a-f]{16})\) on localhost: '
                       r'running for (\d+)s%s$' % (r' \| secret-step' if captured else ''),
                       r.stdout, re.M)
    # the job's output log: none with no_log; removed once the outcome was returned
    assert not [n for n in os.listdir(async_dir) if n.startswith('.output-')]
    jid = r.load('waited')['ansible_job_id']
    with open(os.path.join(async_dir, '.%s.meta' % jid)) as f:
        output = json.load(f)['output']
    assert output.startswith('.output-') if captured else output is None
    if hide:
        assert lines == [], r.stdout
        assert 'secret' not in r.stdout and 'running for' not in r.stdout
    else:
        # the first slice ends 15 s after the wait began: one line, with the job's running
        # time, which counts from the claim, before the start (seconds on a loaded host: 20
        # was seen in a full run beside the containment tests)
        assert len(lines) == 1 and 14 <= int(lines[0]) <= 22, r.stdout
        assert r.load('waited')['stdout'] == 'secret-step\nsecret-output'


@pytest.mark.wrapper_only('counts the remote commands of each wait slice over the local '
                          'connection (Mitogen runs modules in its own way)')
def test_long_wait_grows_its_slices_and_keeps_printing_progress(run_playbook, async_dir):
    """A job of about 48 s waited for by async_wait: slices of 15 s, then as long as the job
    has run (16, then 32 s), so three module runs where slices of 15 s take four; progress
    lines still come at least every 15 s (the controller prints them during the longer
    slices), each with the job's running time and its last output line."""
    r = run_playbook('task_long_wait.yml', args=('-vvv',))
    wait_part = r.stdout.split('TASK [Wait for it]')[1].split('\nTASK [')[0]
    runs = len(re.findall(r'^<localhost> EXEC .*python', wait_part, re.M))
    ages = [int(a) for a in re.findall(r'^long-wait \(j\d+\.\d+\) on localhost: running for '
                                       r'(\d+)s \| step-1$', wait_part, re.M)]
    assert r.load('waited')['stdout'] == 'step-1\ndone'
    assert runs == 3, (runs, wait_part[-3000:])
    assert len(ages) >= 3 and ages == sorted(ages), ages
    # the first line after the first slice (15 s after the wait began, which was after the
    # start), then one at least every 15 s until the job ends at 48 s
    gaps = [b - a for a, b in zip(ages, ages[1:] + [48])]
    assert ages[0] <= 20 and max(gaps) <= 16, (ages, gaps)
