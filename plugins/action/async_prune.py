# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of asyncjobs.named.async_prune: check the arguments, call the module."""

from __future__ import annotations

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.jobs_input import (
    parse_duration)

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import SPECS
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    AsyncJobsAction, action_fail)


class ActionModule(AsyncJobsAction):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validated_args(SPECS['async_prune'])
        # Bad input is refused here, before anything reaches the host.
        try:
            parse_duration(args['older_than'])
        except JobError as e:
            raise action_fail(e.msg)
        if args['keep'] < 0:
            raise action_fail('keep must be 0 or more, not %s' % args['keep'])
        return self.run_module('async_prune', args, task_vars, result)
