# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of asyncjobs.named.async_alias: name an async job."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleActionFail

from ansible_collections.asyncjobs.named.plugins.module_utils._async_jobs import (
    ALIAS_ARGUMENT_SPEC, JobError, validate)
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import AsyncJobsAction

ACTION_ARGUMENT_SPEC = dict(ALIAS_ARGUMENT_SPEC, job=dict(type='raw'))


def jid_of(job, task_vars):
    """The job id held by ``job``: a registered variable's name, or the result itself."""
    if isinstance(job, str):
        if job not in task_vars:
            raise AnsibleActionFail(
                'job: no variable named %r is defined for this host; give the name of a '
                'variable registered by an async task (poll: 0), or that result itself' % str(job))
        name, job = str(job), task_vars[job]
    else:
        name = 'the given result'
    if not isinstance(job, Mapping) or not job.get('ansible_job_id'):
        why = ''
        if isinstance(job, Mapping) and job.get('skipped'):
            why = ' (the task that registered it was skipped)'
        raise AnsibleActionFail(
            'job: %s is not an async job result: it has no ansible_job_id%s; register the '
            'result of a task run with async and poll: 0' % (name, why))
    return str(job['ansible_job_id'])


class ActionModule(AsyncJobsAction):

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self.validated_args(ACTION_ARGUMENT_SPEC,
                                   mutually_exclusive=[('job', 'jid')],
                                   required_one_of=[('job', 'jid')])
        job = args.pop('job')
        if job is not None:
            args['jid'] = jid_of(job, task_vars or {})
            try:
                validate(jid=args['jid'])
            except JobError as e:
                raise AnsibleActionFail(e.msg)
        return self.run_module('async_alias', args, task_vars, result)
