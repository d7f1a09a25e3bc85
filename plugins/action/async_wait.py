# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of asyncjobs.named.async_wait: wait on the host, slice by slice."""

from __future__ import annotations

from ansible_collections.asyncjobs.named.plugins.module_utils._async_control import (
    WAIT_ARGUMENT_SPEC)
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    AsyncJobsAction, jid_of, wait_budget)


class ActionModule(AsyncJobsAction):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validated_args(WAIT_ARGUMENT_SPEC,
                                   mutually_exclusive=[('jid', 'alias', 'job'),
                                                       ('timeout', 'retries')],
                                   required_one_of=[('jid', 'alias', 'job')])
        jid = args['jid']
        if args['job'] is not None:
            jid = jid_of(args['job'], task_vars or {})
        waited = self.wait_job(task_vars, wait_budget(args), args['cleanup'],
                               jid=jid, alias=args['alias'])
        result.update(waited)
        return result
