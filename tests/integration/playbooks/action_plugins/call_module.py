# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only action (loaded from the playbooks' action_plugins/): run module ``name`` with
the module arguments ``args`` (a dict) exactly as given, as an action plugin's
_execute_module passes them. Since ansible-core 2.19 a task cannot give ``_raw_params``
to a module without an action plugin; async_task's action gives it to async_command this
way, and so does this action in the tests.

    - call_module:
        name: asyncjobs.named.async_command
        args: {_raw_params: "echo hi", _uses_shell: true}
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args.get('args') or {})
        result = merge_hash(result, self._execute_module(module_name=self._task.args['name'],
                                                         module_args=args, task_vars=task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
