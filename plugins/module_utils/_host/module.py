# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The main of every module of asyncjobs.named: one way to build the module, run it and
report a failure.

Private to the collection. Runs on the target: Python 3.6 compatible.
"""

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import validate


def checked_names(spec, params):
    """The job name and id of ``params`` to validate: ``alias`` and ``jid`` where the spec
    takes one name (a str; a list of name patterns is not a name) and one is given."""
    names = {}
    for key in ('alias', 'jid'):
        if spec.argument_spec.get(key, {}).get('type') == 'str' and params.get(key) is not None:
            names[key] = params[key]
    return names


def run_module(spec, run):
    """Build the module's AnsibleModule from ``spec`` (an ArgumentSpec), check the job name
    and id it was given (the one host-side validation of every module), and return what
    ``run(params, check_mode)`` returns, as the module's result.

    Failpoints (_shared.failpoints) that a test switched on (the private argument
    ``_failpoints``) are armed first. A JobError fails the task with its message and the
    keys it carries; any other error with its message and the traceback in ``exception``. Warnings in the result, and in
    each entry of its ``results``, become the module's warnings.
    """
    module = spec.create_ansible_module(supports_check_mode=True)
    try:
        validate(**checked_names(spec, module.params))
        if module.params.get('_failpoints'):
            from ansible_collections.asyncjobs.named.plugins.module_utils._shared.failpoints import (
                arm)  # here: only a test switches failpoints on
            arm(module.params['_failpoints'])
        result = run(module.params, module.check_mode)
    except JobError as e:
        module.fail_json(**dict(e.result, msg=e.msg))
    except Exception as e:  # pylint: disable=broad-except
        import traceback  # here: it costs a status poll 1.5 ms to load, and is rarely needed
        module.fail_json(msg='%s: %s' % (type(e).__name__, e), exception=traceback.format_exc())
    releases = result.pop('_release', None)
    for warning in result.pop('warnings', []):
        module.warn(warning)
    for status in result.get('results', []):
        for warning in status.pop('warnings', []):
            module.warn('%s: %s' % (status['ansible_job_id'], warning))
    try:
        module.exit_json(**result)
    except SystemExit:
        # The result was printed. Names of jobs whose outcome it returns are freed only
        # once it has left the host: when stdout still flushes (a dropped connection fails
        # that, and the name stays, so that the next run returns this outcome instead of
        # starting the job again). A print that failed raised before this point.
        if releases:
            _release_if_delivered(releases)
        raise


def _release_if_delivered(releases):
    import sys
    try:
        sys.stdout.flush()
    except (IOError, OSError, ValueError):
        return
    from ansible_collections.asyncjobs.named.plugins.module_utils._host.writes import release
    for async_dir, jid, alias in releases:
        release(async_dir, jid, alias)
