#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: async_command
short_description: Internal - the command of async_task's command forms, with live output; do not use in playbooks
version_added: 0.1.0
description:
  - Internal to the collection, documented for its maintainers. Only the action plugin of
    M(asyncjobs.named.async_task) runs it, as the async job of its O(asyncjobs.named.async_task#module:shell),
    O(asyncjobs.named.async_task#module:cmd), O(asyncjobs.named.async_task#module:argv) and
    O(asyncjobs.named.async_task#module:script) forms; playbooks use M(asyncjobs.named.async_task).
  - It runs a command as M(ansible.builtin.command) (and M(ansible.builtin.shell)) run it,
    with the same options, and returns the same result, key for key and value for value,
    for the ansible-core that runs it (the messages of a few failures differ between
    ansible-core versions, as M(ansible.builtin.command)'s do).
  - One difference - its RV(stdout) and RV(stderr) do not miss what the command wrote just
    before it exited. ansible-core's C(run_command) (up to 2.21 at least) stops reading
    the command's output when one of its 1 s waits for output timed out and the command
    has exited, so M(ansible.builtin.command) loses a last line written right at the end
    of such a wait (C(sleep 1; echo done) on a loaded host). This module reads what the
    pipes still hold then.
  - In addition, while the command runs, its stdout and stderr are written, as they come,
    to an output log beside the job file, which the collection's modules read to show a
    running job's last lines.
  - >-
    Each line of the log is one record: C(out: <line>) or C(err: <line>); C(out+ <piece>)
    or C(err+ <piece>) for a piece of a line that goes on in the next record of its
    stream; C(cut: <N> bytes of this log were cut here). Undecodable bytes are written as
    C(\xNN). The log is bounded (100 MB by default): past its limit it is rewritten,
    atomically, as its start, a C(cut:) record and its most recent part. The result
    returned is never cut. Follow a log with C(tail -F).
  - The log's path and limit are private options that only the action plugin gives.
    Without a log path, it writes no log.
options:
  argv:
    description:
      - The command as a list of arguments, run without a shell, as
        O(ansible.builtin.command#module:argv). The shell and cmd forms give the command
        line in a private option instead, as M(ansible.builtin.command) receives it.
    type: list
    elements: str
  chdir:
    description: Change into this directory before running the command.
    type: path
  executable:
    description:
      - The shell that runs the command of the shell form (the default is C(/bin/sh));
        ignored, with the same warning as M(ansible.builtin.command), without a shell.
    type: str
  expand_argument_vars:
    description:
      - Without a shell, whether C(~) and environment variables in the arguments are
        expanded, as O(ansible.builtin.command#module:expand_argument_vars).
      - The action plugin gives it only to an ansible-core whose M(ansible.builtin.command)
        has it (2.16 and later); with the default, older ansible-core behave the same.
    type: bool
    default: true
  creates:
    description: A path or glob; when it matches, the command is not run.
    type: path
  removes:
    description: A path or glob; when it matches nothing, the command is not run.
    type: path
  stdin:
    description: Text to write to the command's stdin.
    type: str
  stdin_add_newline:
    description: Whether a newline is added to O(stdin).
    type: bool
    default: true
  strip_empty_ends:
    description: Whether empty lines at the end of stdout and stderr are removed.
    type: bool
    default: true
notes:
  - The output log is C(<async dir>/.output-<token>.log). Its format, name rule and reader are
    in the collection's C(plugins/module_utils/_host/output.py).
seealso:
  - module: asyncjobs.named.async_task
  - module: ansible.builtin.command
  - module: ansible.builtin.shell
extends_documentation_fragment:
  - asyncjobs.named.attributes.run_by_async_task
  - asyncjobs.named.attributes
attributes:
  async:
    support: full
    details: M(asyncjobs.named.async_task) runs it as an async job.
  check_mode:
    support: partial
    details: As M(ansible.builtin.command) - the command is not run; O(creates) and O(removes) are checked.
'''

EXAMPLES = r'''
# Internal: see asyncjobs.named.async_task, which runs it as a job with an output log.
- name: Run a command as ansible.builtin.command would
  asyncjobs.named.async_command:
    argv: [tar, -czf, /tmp/etc.tar.gz, /etc]
    creates: /tmp/etc.tar.gz
'''

RETURN = r'''
msg:
  description:
    - Why the command was not run (O(creates), O(removes), check mode), C(non-zero return code)
      (ansible-core 2.21 and later, C(The command exited with a non-zero return code.)),
      or what failed; empty otherwise.
  returned: always
  type: str
  sample: ""
cmd:
  description: The command, as a list of arguments, or the command line given to the shell.
  returned: always
  type: raw
  sample: [echo, hello]
rc:
  description: The command's return code (0 when it was not run because of O(creates) or O(removes)).
  returned: always
  type: int
  sample: 0
stdout:
  description: What the command wrote to stdout (never cut, whatever the output log's limit).
  returned: always
  type: str
  sample: hello
stderr:
  description: What the command wrote to stderr (never cut).
  returned: always
  type: str
  sample: ""
stdout_lines:
  description: RV(stdout) split into lines (added by Ansible).
  returned: always
  type: list
  elements: str
  sample: [hello]
stderr_lines:
  description: RV(stderr) split into lines (added by Ansible).
  returned: always
  type: list
  elements: str
  sample: []
start:
  description: When the command started, local time (null when it was not run).
  returned: always
  type: str
  sample: "2024-05-01 12:00:00.123456"
end:
  description: When the command ended, local time (null when it was not run).
  returned: always
  type: str
  sample: "2024-05-01 12:00:01.234567"
delta:
  description: How long the command ran (null when it was not run).
  returned: always
  type: str
  sample: "0:00:01.111111"
'''

import datetime
import glob
import os
import re
import shlex

from ansible.module_utils.ansible_release import __version__ as ANSIBLE_CORE_VERSION
from ansible.module_utils.common.collections import is_iterable
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.asyncjobs.named.plugins.module_utils._host.output import OutputCapture
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.entries import (
    DEFAULT_LIMIT, MIN_LIMIT)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared.specs import COMMAND_SPEC
from ansible_collections.asyncjobs.named.plugins.module_utils._host.async_dir import (
    runner_async_dir)

# The warning ansible.builtin.command gives for executable without a shell, word for word.
EXECUTABLE_WARNING = ("As of Ansible 2.4, the parameter 'executable' is no longer supported with "
                      "the 'command' module. Not using '%s'.")


def core_version(version=ANSIBLE_CORE_VERSION):
    """(major, minor) of the ansible-core whose module_utils run this module: the
    controller's, the one whose ansible.builtin.command this module stands for."""
    found = re.findall(r'\d+', version)[:2]
    return tuple(int(x) for x in found) if len(found) == 2 else (0, 0)


def command_line(module, params, version):
    """``(args, shell, executable)`` to run, as ansible.builtin.command of ``version``
    takes them; fails the module where that one fails before running anything."""
    raw, argv = params['_raw_params'], params['argv']
    if version >= (2, 19):
        # Since 2.19 its argument spec refuses these (required_one_of, mutually_exclusive).
        if raw is None and argv is None:
            module.fail_json(msg='one of the following is required: _raw_params, cmd, argv')
        if raw is not None and argv is not None:
            module.fail_json(msg='parameters are mutually exclusive: _raw_params|cmd|argv')
    shell, executable = bool(params['_uses_shell']), params['executable']
    if executable and not shell:
        module.warn(EXECUTABLE_WARNING % executable)
        executable = None
    if version < (2, 19):
        # Before 2.19 it checked them itself, after that warning.
        if (not raw or raw.strip() == '') and not argv:
            module.fail_json(**_result(rc=256, msg='no command given'))
        if raw and argv:
            module.fail_json(**_result(rc=256, msg='only command or argv can be given, not both'))
    args = shlex.split(raw) if raw and not shell else raw
    args = args or argv
    if is_iterable(args, include_strings=False):
        args = [to_native(a, errors='surrogate_or_strict', nonstring='simplerepr') for a in args]
    return args, shell, executable


def _result(**values):
    """The keys ansible.builtin.command always returns, with ``values``."""
    result = dict(changed=False, stdout='', stderr='', rc=None, cmd=None, start=None, end=None,
                  delta=None, msg='')
    result.update(values)
    return result


def skip_message(params, check_mode):
    """(message, path, why) of a run skipped because of creates or removes, else
    ('', None, None)."""
    verb = 'Would' if check_mode else 'Did'
    if params['creates'] and glob.glob(params['creates']):
        return "%s not run command since '%s' exists" % (verb, params['creates']), params['creates'], 'exists'
    if params['removes'] and not glob.glob(params['removes']):
        return ("%s not run command since '%s' does not exist" % (verb, params['removes']),
                params['removes'], 'does not exist')
    return '', None, None


def run(module, version=None):
    """The module's result as ansible.builtin.command of ``version`` (default: this
    ansible-core) gives it; exits the module."""
    version = version or core_version()
    params = module.params
    limit = DEFAULT_LIMIT if params['_output_limit'] is None else params['_output_limit']
    log = params['_output_log']
    if log and not os.path.isabs(log):
        # A log's name: it goes beside the job file, in the async dir by the rule of the
        # runner that runs this job (async_wrapper or Mitogen's), before any chdir.
        log = os.path.join(runner_async_dir(), log)
    if log and limit < MIN_LIMIT:
        module.fail_json(msg='_output_limit must be at least %d bytes, not %d' % (MIN_LIMIT, limit))
    args, shell, executable = command_line(module, params, version)
    r = _result(cmd=args)

    if params['chdir']:
        try:
            os.chdir(to_bytes(params['chdir'], errors='surrogate_or_strict'))
        except (IOError, OSError) as e:
            if version >= (2, 19):
                r['msg'] = 'Unable to change directory before execution.'
                module.fail_json(exception=e, **r)
            r['msg'] = 'Unable to change directory before execution: %s' % to_text(e)
            module.fail_json(**r)

    msg, path, why = skip_message(params, module.check_mode)
    if msg:
        r.update(msg=msg, stdout='skipped, since %s %s' % (path, why), rc=0)
        module.exit_json(**r)

    r['changed'] = True
    if module.check_mode:
        r.update(rc=0, msg='Command would have run if not in check mode')
        if params['creates'] is None and params['removes'] is None:
            r.update(skipped=True, changed=False)
    else:
        capture = OutputCapture(log, limit)
        start = datetime.datetime.now()
        rc, out, err = module.run_command(
            args, executable=executable, use_unsafe_shell=shell, encoding=None, data=params['stdin'],
            binary_data=not params['stdin_add_newline'],
            expand_user_and_vars=params['expand_argument_vars'],
            before_communicate_callback=capture.attach)
        end = datetime.datetime.now()
        capture.close()
        out, err = out + capture.rest['out'], err + capture.rest['err']
        if capture.error:
            module.warn('%s; the command ran without it' % capture.error)
        r.update(rc=rc, stdout=out, stderr=err, start=to_text(start), end=to_text(end),
                 delta=to_text(end - start))

    if params['strip_empty_ends']:
        r['stdout'] = to_text(r['stdout']).rstrip('\r\n')
        r['stderr'] = to_text(r['stderr']).rstrip('\r\n')
    if r['rc'] != 0:
        r['msg'] = ('The command exited with a non-zero return code.' if version >= (2, 21)
                    else 'non-zero return code')
        module.fail_json(**r)
    module.exit_json(**r)


def main():
    run(COMMAND_SPEC.create_ansible_module(supports_check_mode=True))


if __name__ == '__main__':
    main()
