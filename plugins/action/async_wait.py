# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of asyncjobs.named.async_wait: wait on the host, slice by slice."""

from __future__ import annotations

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import WAIT_SPEC
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    AsyncJobsAction, jid_of, jobs_of, wait_budget)


class ActionModule(AsyncJobsAction):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self.validated_args(WAIT_SPEC)
        budget = wait_budget(args)
        tail_lines = self.tail_lines(args)
        if args['jobs'] is not None:
            result.update(self.wait_jobs(task_vars, budget, args['cleanup'],
                                         jobs_of(args['jobs'], task_vars), tail_lines))
            return result
        jid = args['jid']
        if args['job'] is not None:
            jid = jid_of(args['job'], task_vars)
        result.update(self.wait_job(task_vars, budget, args['cleanup'], jid=jid,
                                    alias=args['alias'], tail_lines=tail_lines))
        return result
