# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument specs: one per module (used by its action plugin on the controller and by
the module on the host), the start runner's, and the names and limits of the claim
protocol. Their choices of job states come from the job model (``_shared.job_model``).

Private to the collection. Imports only ``_shared``: the controller loads it without any
host-side code. Runs on the target too: Python 3.6 compatible.
"""

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.job_model import (
    ATTACH, FINISHED_CHOICES, JOB_STATE_CHOICES, ON_FINISHED_CHOICES, ON_RUNNING_CHOICES)

# The job policies of async_task (``_shared.job_model.policy_action``), passed on to the
# host side of the start (the start runner, async_claim) as they are.
POLICY_OPTIONS = {
    'on_running': dict(type='str', default=ATTACH, choices=ON_RUNNING_CHOICES),
    'on_finished': dict(type='str', choices=ON_FINISHED_CHOICES),
}

# Environment variable carrying a claim's token into the job's processes (a start in
# several steps), so that a job started by a controller that died before naming it can
# still be found.
CLAIM_ENV = 'ASYNCJOBS_NAMED_CLAIM'
# The remote tmp dir that the controller writes into a one-step start's async_wrapper
# command when the job's files travel with the start runner (plugin_utils/_start.py):
# ``STAGED_TMP_ROOT/<ansible-tmp-...>``, which the runner replaces with the dir it makes on
# the host (_host/start.py, StagedFiles). Only characters that a shell takes as they are.
STAGED_TMP_ROOT = '/@asyncjobs-named-tmp@'


def staged_tmpdir(name):
    """The placeholder of the staged tmp dir ``name`` (``ansible-tmp-...``)."""
    return '%s/%s' % (STAGED_TMP_ROOT, name)


# A claim of a start in several steps whose owner has not named its job after this many
# seconds is taken over by the next run.
CLAIM_STALE_AFTER = 60.0
# The wait inside one module run on the host (a slice; the action loops over slices): the
# first slice, and the shortest. Later slices grow with the job's age, up to
# MAX_SLICE_SECONDS (plugin_utils/_action.py, slice_seconds): a long job costs a remote
# command a minute, not four. Progress lines come at least every PROGRESS_EVERY seconds
# whatever the slice (the controller prints them while a longer slice runs).
SLICE_SECONDS = 15.0
MAX_SLICE_SECONDS = 60.0
PROGRESS_EVERY = 15.0
# The start runner's first line on stdout, before its first wait slice: ``{START_HEADER:
# {"action": "start" or "attach", "ansible_job_id": jid}}``, so that a controller whose
# connection dies during that slice still knows the job (plugins/plugin_utils/_start.py).
START_HEADER = 'asyncjobs_named_start'
# async_wait's first line on stdout when the action asks for it (``_header``), before it
# waits: ``{JOBS_HEADER: [{"ansible_job_id": jid, "ansible_job_alias": alias}, ...]}``, the
# jobs it resolved, in order (plugins/plugin_utils/_action.py).
JOBS_HEADER = 'asyncjobs_named_jobs'

# The async dir, passed to every module by its action plugin as the shell option
# async_dir gives it (``~/.ansible_async`` by default), unexpanded: the module expands it
# on the host by async_wrapper's own rule (require_async_dir).
# Private: not documented, not required by the spec, checked by require_async_dir().
# _failpoints: the failpoints a test switched on (_shared.failpoints), passed only then.
PRIVATE_ARGUMENT_SPEC = dict(_async_dir=dict(type='str'), _failpoints=dict(type='dict'))


class ArgumentSpec:
    """An argument spec with its constraints, defined once: ``validation()`` gives the
    arguments of ActionBase.validate_argument_spec (controller), ``create_ansible_module()``
    the module's AnsibleModule (host, with the private ``_async_dir`` added)."""

    CONSTRAINTS = ('mutually_exclusive', 'required_together', 'required_one_of',
                   'required_if', 'required_by')

    def __init__(self, argument_spec, **constraints):
        unknown = set(constraints) - set(self.CONSTRAINTS)
        if unknown:
            raise ValueError('unknown constraints: %s' % ', '.join(sorted(unknown)))
        self.argument_spec = argument_spec
        self.constraints = constraints

    def validation(self):
        """Keyword arguments for ActionBase.validate_argument_spec."""
        return dict(self.constraints, argument_spec=self.argument_spec)

    def check(self, params):
        """``params`` checked against the argument spec without AnsibleModule, where there is
        none (the start runner): no unknown option, every required one given, each of its
        type (str, bool, int, float, list of str, dict, raw), the defaults filled in. Returns
        a new dict; ValueError, with the message, otherwise. Constraints are not checked."""
        if not isinstance(params, dict):
            raise ValueError('arguments must be a dict, not %s' % type(params).__name__)
        unknown = sorted(set(params) - set(self.argument_spec))
        if unknown:
            raise ValueError('unknown argument(s): %s' % ', '.join(unknown))
        checked = {}
        for name, option in sorted(self.argument_spec.items()):
            if params.get(name) is None:
                if option.get('required'):
                    raise ValueError('missing required argument: %s' % name)
                checked[name] = option.get('default')
                continue
            checked[name] = _check_type(name, option, params[name])
        return checked

    def create_ansible_module(self, **kwargs):
        """The module's AnsibleModule for this spec (imported here: the controller and the
        start runner never need it)."""
        from ansible.module_utils.basic import AnsibleModule
        spec = dict(self.argument_spec)
        spec.update(PRIVATE_ARGUMENT_SPEC)
        options = dict(self.constraints)
        options.update(kwargs)
        return AnsibleModule(argument_spec=spec, **options)


def _check_type(name, option, value):
    kind = option.get('type', 'str')
    ok = {
        'str': lambda v: isinstance(v, str),
        'path': lambda v: isinstance(v, str),
        'bool': lambda v: isinstance(v, bool),
        'int': lambda v: isinstance(v, int) and not isinstance(v, bool),
        'float': lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        'list': lambda v: isinstance(v, list) and all(isinstance(e, str) for e in v),
        'dict': lambda v: isinstance(v, dict),
        'raw': lambda v: True,
    }[kind](value)
    if not ok:
        raise ValueError('argument %s must be of type %s, not %s: %r'
                         % (name, kind, type(value).__name__, value))
    return float(value) if kind == 'float' else value


ONE_OF_JOB = ('jid', 'alias', 'jobs')

STATUS_SPEC = ArgumentSpec(
    dict(
        jid=dict(type='str'),
        alias=dict(type='str'),
        jobs=dict(type='raw'),
        mode=dict(type='str', default='status', choices=['status', 'cleanup', 'full_cleanup']),
        force=dict(type='bool', default=False),
    ),
    mutually_exclusive=[ONE_OF_JOB],
    required_one_of=[ONE_OF_JOB],
)

ALIAS_SPEC = ArgumentSpec(
    dict(
        alias=dict(type='str', required=True),
        job=dict(type='raw'),
        jid=dict(type='str'),
        force=dict(type='bool', default=False),
    ),
    mutually_exclusive=[('job', 'jid')],
    required_one_of=[('job', 'jid')],
)

WAIT_SPEC = ArgumentSpec(
    dict(
        jid=dict(type='str'),
        alias=dict(type='str'),
        job=dict(type='raw'),
        jobs=dict(type='raw'),
        timeout=dict(type='float'),
        retries=dict(type='int'),
        delay=dict(type='float', default=5.0),
        cleanup=dict(type='bool', default=True),
        tail_lines=dict(type='int', default=10),
        # The module's own wait, one slice of at most SLICE_SECONDS, which the action plugin
        # passes; the options timeout and retries (the whole budget) are the action's.
        _slice=dict(type='float'),
        # Write JOBS_HEADER before waiting (the action takes it out of the output).
        _header=dict(type='bool'),
    ),
    mutually_exclusive=[('jid', 'alias', 'job', 'jobs'), ('timeout', 'retries')],
    required_one_of=[('jid', 'alias', 'job', 'jobs')],
)

KILL_SPEC = ArgumentSpec(
    dict(
        jid=dict(type='str'),
        alias=dict(type='str'),
        signal=dict(type='str', default='TERM'),
        grace=dict(type='float', default=5.0),
    ),
    mutually_exclusive=[('jid', 'alias')],
    required_one_of=[('jid', 'alias')],
)

FORMS = ('shell', 'cmd', 'argv', 'script', 'module')

# The options of ansible.builtin.command that async_task takes for its command forms and
# passes to async_command, with that module's types and defaults (``executable`` differs:
# async_task's also picks the interpreter of the script form).
COMMAND_OPTIONS = {
    'chdir': dict(type='path'),
    'creates': dict(type='path'),
    'removes': dict(type='path'),
    'stdin': dict(type='str'),
    'stdin_add_newline': dict(type='bool', default=True),
    'strip_empty_ends': dict(type='bool', default=True),
}

TASK_SPEC = ArgumentSpec(
    {
        'alias': dict(type='str', required=True),
        # The job's time limit in seconds, as the task keyword async means it.
        'async': dict(type='int', required=True),
        'shell': dict(type='str'),
        'cmd': dict(type='str'),
        'argv': dict(type='list', elements='str'),
        'script': dict(type='str'),
        'module': dict(type='str'),
        'module_args': dict(type='dict'),
        'executable': dict(type='path'),
        **COMMAND_OPTIONS,
        'retries': dict(type='int'),
        'delay': dict(type='float', default=5.0),
        'timeout': dict(type='float'),
        'cleanup': dict(type='bool', default=True),
        **POLICY_OPTIONS,
        'tail_lines': dict(type='int', default=10),
        # A size: bytes, or a number with a unit (100MB, 1.5G), as human_to_bytes reads it;
        # none: _host.output.DEFAULT_LIMIT. Only for the command forms.
        'output_limit': dict(type='str'),
        # The controller's warning when the wait runs the hosts in batches of forks.
        'fork_batches_warning': dict(type='bool', default=True),
        # Limits on the job's cgroup (_host.containment), checked on the host.
        'limits': dict(type='dict', options=dict(memory=dict(type='str'),
                                                 cpu=dict(type='float'),
                                                 tasks=dict(type='int'))),
    },
    mutually_exclusive=[FORMS, ('timeout', 'retries')],
    required_one_of=[FORMS],
    required_by=dict(module_args='module'),
)

CLAIM_SPEC = ArgumentSpec(
    dict(
        alias=dict(type='str', required=True),
        token=dict(type='str', required=True, no_log=False),
        mode=dict(type='str', default='prepare', choices=['prepare', 'bind', 'abandon']),
        waiting=dict(type='bool', default=False),
        jid=dict(type='str'),
        hold=dict(type='float', default=0.0),
        what=dict(type='str'),
        output=dict(type='str'),
        **POLICY_OPTIONS
    ),
)


JOBS_INFO_SPEC = ArgumentSpec(
    dict(
        alias=dict(type='list', elements='str'),
        state=dict(type='list', elements='str', choices=JOB_STATE_CHOICES),
        unnamed=dict(type='bool', default=True),
        tail_lines=dict(type='int', default=10),
    ),
)

PRUNE_SPEC = ArgumentSpec(
    dict(
        older_than=dict(type='raw', required=True),
        states=dict(type='list', elements='str', choices=FINISHED_CHOICES,
                    default=FINISHED_CHOICES),
        alias=dict(type='list', elements='str'),
        keep=dict(type='int', default=0),
    ),
)

# Each module's spec, by module name (the unit tests compare them with DOCUMENTATION).
SPECS = dict(async_status_id=STATUS_SPEC, async_alias=ALIAS_SPEC, async_wait=WAIT_SPEC,
             async_kill=KILL_SPEC, async_task=TASK_SPEC, async_claim=CLAIM_SPEC,
             async_jobs_info=JOBS_INFO_SPEC, async_prune=PRUNE_SPEC)

# async_command: the job of async_task's command forms (shell, cmd, argv, script). The
# options of ansible.builtin.command that async_task passes, with the same types and
# defaults, and two private ones: the path of the output log (none: no log) and its bound
# in bytes (none: 100 MB, _host.output.DEFAULT_LIMIT). The private options have no
# default in the spec (validate-modules compares it with the documentation, which they are
# not in): _uses_shell None is false. No constraints: the module checks its command as the
# running ansible-core's ansible.builtin.command does.
COMMAND_SPEC = ArgumentSpec(
    {
        '_raw_params': dict(type='str'),
        '_uses_shell': dict(type='bool'),
        'argv': dict(type='list', elements='str'),
        'executable': dict(type='str'),
        'expand_argument_vars': dict(type='bool', default=True),
        **COMMAND_OPTIONS,
        '_output_log': dict(type='path'),
        '_output_limit': dict(type='int'),
    },
)

SPECS['async_command'] = COMMAND_SPEC

# The start runner (plugins/plugin_utils/_start.py; _host.start.start_main), checked on the
# host by ArgumentSpec.check: what the action plugin passes, the wrapper command and the
# shell that runs it, and the private options every module gets.
RUNNER_SPEC = ArgumentSpec(
    dict(
        alias=dict(type='str', required=True),
        token=dict(type='str', required=True, no_log=False),
        waiting=dict(type='bool', required=True),
        wait=dict(type='float', default=0.0),      # the first wait slice, seconds
        cleanup=dict(type='bool', default=True),
        hold=dict(type='float', default=0.0),      # how long another run's claim is waited for
        what=dict(type='str'),
        output=dict(type='str'),
        tail_lines=dict(type='int', default=0),
        tmpdir=dict(type='str'),
        remove_tmp=dict(type='bool', default=False),
        chmod=dict(type='list', elements='str', default=[]),
        wrapper_cmd=dict(type='str', required=True),
        shell=dict(type='str'),
        stage=dict(type='dict'),                   # the job's files, sent with the runner
        limits=dict(type='dict'),                  # on the job's cgroup (_host.containment)
        **dict(POLICY_OPTIONS, **PRIVATE_ARGUMENT_SPEC)
    ),
)
