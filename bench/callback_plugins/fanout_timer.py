# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper (not part of the collection's API): time the tasks of bench/fanout_*.yml.

Records the controller's monotonic clock (time.perf_counter) when each task starts and
when the playbook ends, and how each host's results ended, and writes them as JSON to
the file named by the environment variable FANOUT_TIMER_OUT.

Enabled by bench/fanout.py with ANSIBLE_CALLBACKS_ENABLED=fanout_timer.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: fanout_timer
type: aggregate
short_description: record task start times of a fan-out benchmark (benchmark helper)
description:
  - Writes task start times, the end time and per-host outcomes to the file in E(FANOUT_TIMER_OUT).
requirements:
  - enabled in callbacks_enabled
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'fanout_timer'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._tasks = []
        self._outcomes = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._tasks.append(dict(name=task.get_name(), start=time.perf_counter()))

    def _outcome(self, result, status):
        key = '%s|%s' % (self._tasks[-1]['name'] if self._tasks else '', result._host.get_name())
        self._outcomes[key] = status

    def v2_runner_on_ok(self, result):
        self._outcome(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._outcome(result, 'failed')

    def v2_runner_on_unreachable(self, result):
        self._outcome(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        out = os.environ.get('FANOUT_TIMER_OUT')
        if out:
            with open(out, 'w') as f:
                json.dump(dict(tasks=self._tasks, end=time.perf_counter(),
                               outcomes=self._outcomes), f)
