# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helpers shared by the collection's action plugins (private)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ansible_version
from ansible.utils.vars import merge_hash

from ansible_collections.asyncjobs.named.plugins.module_utils._async_jobs import JobError, validate


def _core_version():
    return tuple(int(p) for p in ansible_version.split('.')[:2])


# ansible-core 2.19 turned async_status's started/finished from ints into bools.
BOOL_STATES = _core_version() >= (2, 19)


def native_types(result):
    """Give started/finished the type native async_status gives on this ansible-core."""
    for key in ('started', 'finished'):
        if key in result:
            result[key] = bool(result[key]) if BOOL_STATES else int(result[key])
    return result


class AsyncJobsAction(ActionBase):
    """Base of the collection's thin action plugins: validate, find the async dir,
    call one module."""

    def async_dir(self):
        """The async dir exactly as native async_status finds it (shell option
        ``async_dir``, expanded for the remote and become user)."""
        async_dir = self.get_shell_option('async_dir', default='~/.ansible_async')
        return self._remote_expand_user(async_dir)

    def validated_args(self, argument_spec, **constraints):
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec, **constraints)
        try:
            validate(alias=args.get('alias'), jid=args.get('jid'))
        except JobError as e:
            raise AnsibleActionFail(e.msg)
        return args

    def run_module(self, name, module_args, task_vars, result=None):
        """Run one of our modules with the async dir added; merge into ``result``."""
        module_args = dict(module_args, _async_dir=self.async_dir())
        module_result = self._execute_module(
            module_name='asyncjobs.named.%s' % name, module_args=module_args, task_vars=task_vars)
        return merge_hash(result or {}, module_result)
