# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of asyncjobs.named.async_status_id: a drop-in for async_status."""

from __future__ import annotations

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import STATUS_SPEC
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import (
    AsyncJobsAction, job_result, jobs_of, many_result, native_prefill, native_types)


class ActionModule(AsyncJobsAction):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validated_args(STATUS_SPEC)
        if args['jobs'] is not None:
            refs = jobs_of(args['jobs'], task_vars or {})
            res = self.run_module('async_status_id', dict(args, jobs=refs), task_vars)
            if 'results' not in res or res.get('failed'):
                result.update(res)  # bad or unknown job: the module says which
                return result
            result.update(many_result([job_result(r['ansible_job_id'], r)
                                       for r in res['results']]))
            return result
        # Pre-filled as native async_status does, so the same keys always exist, even
        # when the module fails (e.g. "could not find job").
        # (The module adds results_file, or erased, to "could not find job" as native's
        # action plugin does: only the host knows the expanded async dir.)
        result.update(native_prefill(args['jid']))
        result = self.run_module('async_status_id', args, task_vars, result)
        return native_types(result)
