# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of asyncjobs.named.async_jobs_info: check the arguments, call the module."""

from __future__ import annotations

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import SPECS
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import AsyncJobsAction


class ActionModule(AsyncJobsAction):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validated_args(SPECS['async_jobs_info'])
        args['tail_lines'] = self.tail_lines(args)
        return self.run_module('async_jobs_info', args, task_vars, result)
