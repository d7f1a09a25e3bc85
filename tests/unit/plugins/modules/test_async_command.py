# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/modules/async_command.py: ansible.builtin.command's result, with
an output log.

Both modules run in this process, fed the way ansible-core's own unit tests feed modules
(``ansible.module_utils.basic._ANSIBLE_ARGS``), on real commands: the installed
ansible-core's command module and async_command get the same arguments, and their results
must be the same but for the times (and the traceback text of a failure, whose frames
differ). The messages that differ between ansible-core versions are checked through
``run(module, version)``, against the texts of those versions' command module. The
playbook-level comparison, on several ansible-core versions, is
tests/integration/test_async_command.py.
"""

import json
import os
import re

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.modules import command as builtin_command

from ansible_collections.asyncjobs.named.plugins.module_utils._host import output
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import specs
from ansible_collections.asyncjobs.named.plugins.modules import async_command

try:
    from ansible.module_utils import _internal as ansible_internal
    from ansible.module_utils._internal import _traceback
except ImportError:  # ansible-core before 2.19
    ansible_internal = _traceback = None

TIMES = ('start', 'end', 'delta')
TIME_RE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\Z')
DELTA_RE = re.compile(r'^\d+:\d\d:\d\d\.\d{6}\Z')


def as_a_module_process(monkeypatch):
    """Undo what other tests of this process set up that a module's process has not (as
    _host/test_module.py does): 2.19's controller-side warnings and traceback setting."""
    if _traceback is not None:
        monkeypatch.setattr(_traceback, '_module_tracebacks_enabled_events', None, raising=False)
        monkeypatch.setattr(ansible_internal, 'is_controller', False)
        monkeypatch.setattr(_traceback, '_is_traceback_enabled',
                            _traceback._is_module_traceback_enabled)


def set_module_args(monkeypatch, args):
    """``args`` as the module arguments of the next AnsibleModule, warnings reset."""
    monkeypatch.setattr(ansible_warnings, '_global_warnings',
                        type(ansible_warnings._global_warnings)())
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS',
                        json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode('utf-8'))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)
    monkeypatch.setattr(basic, '_PARSED_MODULE_ARGS', None, raising=False)


@pytest.fixture
def call(monkeypatch, capsys, tmp_path):
    """call(main, args) -> (exit code, result): a module's main with ``args``, in a cwd of
    its own (chdir changes the process's)."""
    monkeypatch.chdir(str(tmp_path))
    as_a_module_process(monkeypatch)

    def run(main, args):
        set_module_args(monkeypatch, args)
        os.chdir(str(tmp_path))
        with pytest.raises(SystemExit) as exc:
            main()
        return exc.value.code, json.loads(capsys.readouterr().out)
    return run


def comparable(result):
    """A result without what differs between two runs: times, the module's own arguments,
    the text of a traceback."""
    result = dict(result)
    result.pop('invocation', None)
    for key in TIMES:
        if result.get(key) is not None:
            result[key] = 'TIME'
    if 'exception' in result:
        result['exception'] = 'TRACEBACK'
    return result


@pytest.fixture
def work(tmp_path):
    d = tmp_path / 'work'
    (d / 'sub').mkdir(parents=True)
    (d / 'exists').write_text('')
    return str(d)


CASES = [
    # (id, arguments of both, check mode)
    ('success', {'_raw_params': 'echo hello   world'}, False),
    ('failure', {'_raw_params': 'echo out; echo err >&2; exit 3', '_uses_shell': True}, False),
    ('argv', {'argv': ['printf', '%s|', 'a b', '$HOME', '~']}, False),
    ('stdin', {'_raw_params': 'cat', 'stdin': 'one\ntwo'}, False),
    ('stdin_no_newline', {'_raw_params': 'cat', 'stdin': 'one', 'stdin_add_newline': False}, False),
    ('chdir', {'_raw_params': 'pwd', 'chdir': '{work}/sub'}, False),
    ('chdir_missing', {'_raw_params': 'pwd', 'chdir': '{work}/missing'}, False),
    ('chdir_a_file', {'_raw_params': 'pwd', 'chdir': '{work}/exists'}, False),
    ('creates_skip', {'_raw_params': 'echo ran', 'creates': '{work}/ex*'}, False),
    ('creates_run', {'_raw_params': 'echo ran', 'creates': '{work}/missing'}, False),
    ('removes_skip', {'_raw_params': 'echo ran', 'removes': '{work}/missing*'}, False),
    ('removes_run', {'_raw_params': 'echo ran', 'removes': '{work}/exists'}, False),
    ('creates_and_removes', {'_raw_params': 'echo ran', 'creates': '{work}/missing',
                             'removes': '{work}/missing'}, False),
    ('check_mode', {'_raw_params': 'echo ran'}, True),
    ('check_mode_creates', {'_raw_params': 'echo ran', 'creates': '{work}/missing'}, True),
    ('check_mode_creates_skip', {'_raw_params': 'echo ran', 'creates': '{work}/exists'}, True),
    ('check_mode_removes_skip', {'_raw_params': 'echo ran', 'removes': '{work}/missing'}, True),
    ('shell_executable', {'_raw_params': 'echo ${BASH_VERSION:+bash} $0', '_uses_shell': True,
                          'executable': '/bin/bash'}, False),
    ('command_executable', {'_raw_params': 'echo ignored', 'executable': '/bin/bash'}, False),
    ('strip_false', {'_raw_params': "printf 'a\\n\\n'; printf 'e\\r\\n' >&2", '_uses_shell': True,
                     'strip_empty_ends': False}, False),
    ('non_utf8', {'_raw_params': "printf 'ok \\377 \\303\\n'; printf '\\351\\n' >&2",
                  '_uses_shell': True}, False),
    ('non_utf8_strip_false', {'_raw_params': "printf 'ok \\377\\n'", '_uses_shell': True,
                              'strip_empty_ends': False}, False),
    ('no_expand', {'_raw_params': 'echo $HOME ~', 'expand_argument_vars': False}, False),
    ('missing_executable', {'_raw_params': '/nonexistent-asyncjobs-named arg'}, False),
    ('no_command', {'chdir': '{work}'}, False),
    ('empty_command', {'_raw_params': ''}, False),
    ('blank_shell_command', {'_raw_params': '  ', '_uses_shell': True}, False),
    ('both', {'_raw_params': 'echo raw', 'argv': ['echo', 'argv']}, False),
    ('stdin_int', {'_raw_params': 'cat', 'stdin': 5}, False),
    # run_command stops reading a second after the command exited, though a background
    # child still holds the pipes: the capture keeps that
    ('background_child', {'_raw_params': '(sleep 3; echo late) & echo started',
                          '_uses_shell': True}, False),
]


def _args(given, work, check_mode):
    args = json.loads(json.dumps(given).replace('{work}', work))
    if check_mode:
        args['_ansible_check_mode'] = True
    return args


@pytest.mark.parametrize('given, check_mode', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_same_result_as_ansible_builtin_command(call, work, given, check_mode):
    args = _args(given, work, check_mode)
    code_b, builtin = call(builtin_command.main, args)
    code_o, ours = call(async_command.main, args)
    assert (code_o, comparable(ours)) == (code_b, comparable(builtin))
    for key in TIMES:
        if builtin.get(key) is None:
            assert ours.get(key) is None
        else:
            assert (DELTA_RE if key == 'delta' else TIME_RE).match(ours[key]), ours


@pytest.mark.parametrize('given, check_mode', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_same_result_with_an_output_log(call, work, tmp_path, given, check_mode):
    """The log changes nothing in the result."""
    args = _args(given, work, check_mode)
    _code, builtin = call(builtin_command.main, args)
    args['_output_log'] = str(tmp_path / '.output-case.log')
    _code, ours = call(async_command.main, args)
    assert comparable(ours) == comparable(builtin)


def test_keeps_a_last_line_that_run_command_misses(call, late_select, tmp_path):
    """run_command stopped reading on a timed-out wait after the command had exited (the
    output of ``sleep 1; echo done`` on a loaded host): ansible.builtin.command loses what
    the command wrote last; async_command reads it from the pipes, with or without a log."""
    args = {'_raw_params': 'echo started; echo oops >&2; echo done', '_uses_shell': True}
    _code, builtin = call(builtin_command.main, args)
    assert (builtin['rc'], builtin['stdout'], builtin['stderr']) == (0, '', '')
    code, ours = call(async_command.main, args)
    assert (code, ours['rc'], ours['stdout'], ours['stderr']) == (0, 0, 'started\ndone', 'oops')
    log = str(tmp_path / '.output-late.log')
    _code, logged = call(async_command.main, dict(args, _output_log=log))
    assert comparable(logged) == comparable(ours)
    assert output.output_tails(log) == (['started', 'done'], ['oops'])
    assert len(late_select) == 3 and all(p.late_select_done for p in late_select)


def test_log_of_a_command(call, work, tmp_path):
    log = str(tmp_path / '.output-abc.log')
    code, result = call(async_command.main, {
        '_raw_params': "echo o1; sleep 0.25; echo e1 >&2; sleep 0.25; printf 'o2 \\377'; exit 4",
        '_uses_shell': True, '_output_log': log})
    # (the undecodable byte in stdout is as ansible.builtin.command returns it: compared above)
    assert code == 1 and result['rc'] == 4 and result['stdout'].startswith('o1\no2 ')
    with open(log) as f:
        assert f.read() == 'out: o1\nerr: e1\nout: o2 \\xff\n'
    assert output.output_tails(log) == (['o1', 'o2 \\xff'], ['e1'])


def test_log_with_a_small_limit_cuts_only_the_log(call, tmp_path):
    log = str(tmp_path / '.output-abc.log')
    code, result = call(async_command.main, {
        'argv': ['seq', '1', '20000'], '_output_log': log, '_output_limit': 4096})
    assert code == 0 and result['stdout'].split('\n') == [str(i) for i in range(1, 20001)]
    with open(log) as f:
        text = f.read()
    assert len(text) <= 4096 and text.startswith('out: 1\nout: 2\n') and text.endswith('out: 20000\n')
    assert re.search(r'^cut: \d+ bytes of this log were cut here$', text, re.M)


def test_no_log_without_a_path(call, tmp_path):
    code, result = call(async_command.main, {'_raw_params': 'echo hi'})
    assert code == 0 and result['stdout'] == 'hi'
    assert [n for n in os.listdir(str(tmp_path)) if output.is_output_log(n)] == []


def test_no_log_when_not_run(call, work, tmp_path):
    log = str(tmp_path / '.output-abc.log')
    code, result = call(async_command.main, {'_raw_params': 'echo hi', 'creates': work,
                                             '_output_log': log})
    assert code == 0 and result['rc'] == 0 and not result['changed']
    assert not os.path.exists(log)


def test_log_that_cannot_be_written_is_a_warning(call, tmp_path):
    log = str(tmp_path / 'missing' / '.output-abc.log')
    code, result = call(async_command.main, {'_raw_params': 'echo hi', '_output_log': log})
    assert code == 0 and result['stdout'] == 'hi' and result['rc'] == 0
    warnings = [w if isinstance(w, str) else w['event']['msg'] for w in result['warnings']]
    assert len(warnings) == 1
    assert warnings[0].startswith('output log %s: ' % log)
    assert warnings[0].endswith('; the command ran without it')


def test_output_limit_below_the_minimum(call, tmp_path):
    code, result = call(async_command.main, {'_raw_params': 'touch ran', '_output_limit': 100,
                                             '_output_log': str(tmp_path / '.output-abc.log')})
    assert code == 1 and result['msg'] == '_output_limit must be at least 4096 bytes, not 100'
    assert not os.path.exists(str(tmp_path / 'ran'))


def test_output_limit_is_ignored_without_a_log(call):
    code, result = call(async_command.main, {'_raw_params': 'echo hi', '_output_limit': 100})
    assert code == 0 and result['stdout'] == 'hi'


# --- what differs between ansible-core versions -----------------------------------------------

@pytest.fixture
def run_as(monkeypatch, capsys, tmp_path):
    """run_as(version, args) -> (exit code, result): async_command.run as the
    ansible.builtin.command of ansible-core ``version`` ((major, minor))."""
    monkeypatch.chdir(str(tmp_path))
    as_a_module_process(monkeypatch)

    def run(version, args):
        set_module_args(monkeypatch, args)
        module = specs.COMMAND_SPEC.create_ansible_module(supports_check_mode=True)
        with pytest.raises(SystemExit) as exc:
            async_command.run(module, version)
        return exc.value.code, json.loads(capsys.readouterr().out)
    return run


ALWAYS = dict(changed=False, stdout='', stderr='', rc=None, cmd=None, start=None, end=None,
              delta=None)


@pytest.mark.parametrize('version, msg', [
    ((2, 15), 'non-zero return code'),
    ((2, 18), 'non-zero return code'),
    ((2, 19), 'non-zero return code'),
    ((2, 20), 'non-zero return code'),
    ((2, 21), 'The command exited with a non-zero return code.'),
    ((3, 0), 'The command exited with a non-zero return code.'),
])
def test_non_zero_return_code_message(run_as, version, msg):
    code, result = run_as(version, {'_raw_params': 'false'})
    assert code == 1 and result['rc'] == 1 and result['msg'] == msg and result['failed']


@pytest.mark.parametrize('version', [(2, 15), (2, 16), (2, 17), (2, 18)])
def test_before_2_19(run_as, tmp_path, version):
    """The texts of ansible-core 2.15-2.18's command module."""
    missing = str(tmp_path / 'missing')
    code, result = run_as(version, {'_raw_params': 'pwd', 'chdir': missing})
    assert code == 1
    assert result['msg'] == ("Unable to change directory before execution: [Errno 2] No such file "
                             "or directory: b'%s'" % missing)
    assert (result['cmd'], result['rc'], result['changed']) == (['pwd'], None, False)
    for args in ({}, {'_raw_params': ''}, {'_raw_params': ' \t'}, {'argv': []}):
        code, result = run_as(version, args)
        assert (code, result['rc'], result['msg']) == (1, 256, 'no command given'), args
        assert all(result[k] == v for k, v in ALWAYS.items() if k != 'rc'), result
    code, result = run_as(version, {'_raw_params': 'echo', 'argv': ['echo']})
    assert (code, result['rc'], result['msg']) == (
        1, 256, 'only command or argv can be given, not both')
    # an empty argv with a command is not "both"
    code, result = run_as(version, {'_raw_params': 'echo hi', 'argv': []})
    assert (code, result['stdout']) == (0, 'hi')


def test_before_2_19_executable_warning_comes_first(run_as):
    code, result = run_as((2, 15), {'executable': '/bin/bash'})
    assert (code, result['msg']) == (1, 'no command given')
    assert len(result['warnings']) == 1


@pytest.mark.parametrize('version', [(2, 19), (2, 20), (2, 21)])
def test_since_2_19(run_as, tmp_path, version):
    """The texts of ansible-core 2.19+'s command module (and of its argument spec)."""
    code, result = run_as(version, {'_raw_params': 'pwd', 'chdir': str(tmp_path / 'missing')})
    assert (code, result['msg']) == (1, 'Unable to change directory before execution.')
    code, result = run_as(version, {})
    assert (code, result['msg']) == (1, 'one of the following is required: _raw_params, cmd, argv')
    assert 'rc' not in result
    code, result = run_as(version, {'_raw_params': 'echo', 'argv': ['echo']})
    assert (code, result['msg']) == (1, 'parameters are mutually exclusive: _raw_params|cmd|argv')


@pytest.mark.parametrize('version, expected', [
    ('2.19.14', (2, 19)), ('2.21.0rc1', (2, 21)), ('2.15.13', (2, 15)), ('3.0.0.dev0', (3, 0)),
    ('devel', (0, 0)),
])
def test_core_version(version, expected):
    assert async_command.core_version(version) == expected


def test_core_version_is_the_running_ansible_core():
    from ansible.release import __version__
    assert async_command.core_version() == tuple(int(x) for x in __version__.split('.')[:2])
