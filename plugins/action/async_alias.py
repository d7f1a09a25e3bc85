# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of asyncjobs.named.async_alias: name an async job."""

from __future__ import annotations

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import ALIAS_SPEC
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    AsyncJobsAction, jid_of)


class ActionModule(AsyncJobsAction):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validated_args(ALIAS_SPEC)
        job = args.pop('job')
        if job is not None:
            args['jid'] = jid_of(job, task_vars or {})
        return self.run_module('async_alias', args, task_vars, result)
