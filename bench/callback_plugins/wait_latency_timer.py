# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper (not part of the collection's API): time the wait tasks of
bench/wait_latency.yml.

Records, for every task whose name starts with ``WAIT`` (``WAIT native`` or
``WAIT ours``), the wall clock (time.time(), the clock the job's own ``date``
uses) when the task starts and when its result arrives, plus the parts of the
result the benchmark needs, and writes them as JSON to the file named by the
environment variable WAIT_LATENCY_OUT when the playbook ends.

Enabled by bench/wait_latency.py with ANSIBLE_CALLBACKS_ENABLED=wait_latency_timer.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: wait_latency_timer
type: aggregate
short_description: record start and end wall-clock times of WAIT tasks (benchmark helper)
description:
  - Writes the times and results of tasks named C(WAIT ...) to the file in E(WAIT_LATENCY_OUT).
requirements:
  - enabled in callbacks_enabled
'''

KEEP = ('ansible_job_id', 'stdout', 'attempts', 'waited', 'state', 'finished', 'msg', 'rc',
        'start', 'end')


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'wait_latency_timer'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._records = []
        self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        now = time.time()
        words = task.get_name().split()
        if len(words) < 2 or words[0] != 'WAIT':
            self._current = None
            return
        self._current = dict(method=words[1], start=now, retries=[], end=None, status=None,
                             result={})
        self._records.append(self._current)

    def _finish(self, status, result):
        if self._current is not None and self._current['end'] is None:
            self._current['end'] = time.time()
            self._current['status'] = status
            res = result._result
            self._current['result'] = dict((k, res[k]) for k in KEEP if k in res)

    def v2_runner_retry(self, result):
        if self._current is not None:
            self._current['retries'].append(time.time())

    def v2_runner_on_ok(self, result):
        self._finish('ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finish('failed', result)

    def v2_runner_on_skipped(self, result):
        # A skipped WAIT task (the other method's turn) is not a sample.
        if self._current is not None and self._current['end'] is None:
            self._records.remove(self._current)
            self._current = None

    def v2_runner_on_unreachable(self, result):
        self._finish('unreachable', result)

    def v2_playbook_on_stats(self, stats):
        out = os.environ.get('WAIT_LATENCY_OUT')
        if out:
            with open(out, 'w') as f:
                json.dump(self._records, f)
