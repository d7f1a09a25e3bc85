# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress while waiting: one line per wait slice at the default verbosity, as native's
retries print theirs; with no_log, none, and nothing of the job in the output."""

import re

import pytest


@pytest.mark.parametrize('hide', [False, True])
def test_progress_line_per_slice(run_playbook, hide):
    r = run_playbook('task_progress.yml', extra_vars={'hide': hide, 'seconds': 18})
    lines = re.findall(r'^long-(?:shown|hidden) \(j\d+\.\d+\) on localhost: running for (\d+)s$',
                       r.stdout, re.M)
    if hide:
        assert lines == [], r.stdout
        assert 'secret-output' not in r.stdout and 'running for' not in r.stdout
    else:
        # the first slice ends at 15 s: one line, the job's running time
        assert len(lines) == 1 and 14 <= int(lines[0]) <= 17, r.stdout
        assert r.load('waited')['stdout'] == 'secret-output'
