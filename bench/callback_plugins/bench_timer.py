# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper (not part of the collection's API): time the tasks of
bench/poll_cost.yml.

Records, for every task whose name starts with ``BENCH``, the controller's
monotonic clock (time.perf_counter) when the task starts, at every ``until``
retry and when its result arrives, and writes them all as JSON to the file named
by the environment variable BENCH_TIMER_OUT when the playbook ends.

Enabled by bench/poll_cost.py with ANSIBLE_CALLBACKS_ENABLED=bench_timer.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: bench_timer
type: aggregate
short_description: record task and retry timestamps of BENCH tasks (benchmark helper)
description:
  - Writes the timestamps of tasks named C(BENCH ...) to the file in E(BENCH_TIMER_OUT).
requirements:
  - enabled in callbacks_enabled
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_timer'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._records = []
        self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        now = time.perf_counter()
        name = task.get_name()
        if not name.startswith('BENCH '):
            self._current = None
            return
        # "BENCH <mode> <kind>", e.g. "BENCH until native", "BENCH task ours"
        words = name.split()
        self._current = dict(name=name, mode=words[1], kind=words[2], start=now,
                             retries=[], end=None, status=None)
        self._records.append(self._current)

    def _finish(self, status):
        if self._current is not None and self._current['end'] is None:
            self._current['end'] = time.perf_counter()
            self._current['status'] = status

    def v2_runner_retry(self, result):
        if self._current is not None:
            self._current['retries'].append(time.perf_counter())

    def v2_runner_on_ok(self, result):
        self._finish('ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finish('failed')

    def v2_runner_on_skipped(self, result):
        self._finish('skipped')

    def v2_runner_on_unreachable(self, result):
        self._finish('unreachable')

    def v2_playbook_on_stats(self, stats):
        out = os.environ.get('BENCH_TIMER_OUT')
        if out:
            with open(out, 'w') as f:
                json.dump(self._records, f)
