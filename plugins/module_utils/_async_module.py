# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The main of every module of asyncjobs.named: one way to build the module, run it and
report a failure.

Private to the collection. Runs on the target: Python 3.6 compatible.
"""

from ansible_collections.asyncjobs.named.plugins.module_utils._async_names import JobError


def run_module(spec, run):
    """Build the module's AnsibleModule from ``spec`` (an ArgumentSpec) and return what
    ``run(params, check_mode)`` returns, as the module's result.

    A JobError fails the task with its message and the keys it carries; any other error
    with its message and the traceback in ``exception``. Warnings in the result, and in
    each entry of its ``results``, become the module's warnings.
    """
    module = spec.create_ansible_module(supports_check_mode=True)
    try:
        result = run(module.params, module.check_mode)
    except JobError as e:
        module.fail_json(**dict(e.result, msg=e.msg))
    except Exception as e:  # pylint: disable=broad-except
        import traceback  # here: it costs a status poll 1.5 ms to load, and is rarely needed
        module.fail_json(msg='%s: %s' % (type(e).__name__, e), exception=traceback.format_exc())
    for warning in result.pop('warnings', []):
        module.warn(warning)
    for status in result.get('results', []):
        for warning in status.pop('warnings', []):
            module.warn('%s: %s' % (status['ansible_job_id'], warning))
    module.exit_json(**result)
