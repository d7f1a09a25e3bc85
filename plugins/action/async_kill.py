# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of asyncjobs.named.async_kill: stop a job by name or job id."""

from __future__ import annotations

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import KILL_SPEC
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    AsyncJobsAction, action_fail, native_types)


class ActionModule(AsyncJobsAction):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validated_args(KILL_SPEC)
        if args['grace'] < 0:
            raise action_fail('grace must be 0 or more, not %s' % args['grace'])
        return native_types(self.run_module('async_kill', args, task_vars, result))
