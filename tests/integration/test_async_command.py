# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""asyncjobs.named.async_command against ansible.builtin.command and shell, with real
ansible-playbook runs.

command_compare.yml runs, as plain tasks, the same commands with the same options through
the builtin modules and through async_command (given its arguments as async_task's action
gives them, through the test action call_module); each case's results must be the same,
key for key, but for the values of start, end and delta, whose formats are checked. The
output logs async_command wrote (one per case) must hold both streams, in order, and the
10 MB case's log with a small limit must be cut. command_live.yml runs a command that
prints, then waits on a gate file: its output must be in the log while it waits.
"""

import importlib
import json
import re
import sys

import pytest
import yaml

from _async_task_lib import PLAYBOOKS, background_starter, wait_for

TIME_RE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$')
DELTA_RE = re.compile(r'^\d+:\d\d:\d\d\.\d{6}$')
# Keys whose values differ between two runs: checked for their format, or not at all.
TIMES = ('start', 'end', 'delta')
NOT_COMPARED = ('invocation',)


def _cases():
    with open(str(PLAYBOOKS / 'command_compare.yml'), encoding='utf-8') as f:
        return yaml.safe_load(f)[0]['vars']['cases']


CASES = dict((c['name'], c) for c in _cases())
# The cases whose command does not run (async_command writes no log).
NOT_RUN = {'chdir_missing', 'creates_skip', 'removes_skip', 'missing_executable',
           'both_raw_and_argv', 'check_mode', 'check_mode_creates', 'check_mode_creates_skip'}


def _version_tuple(text):
    return tuple(int(x) for x in text.split('.'))


@pytest.fixture(scope='module')
def output_module(installed_collection):
    """The installed _host/output.py, imported from the installed collection."""
    root = str(installed_collection.parents[2])  # the dir that holds ansible_collections
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(
        'ansible_collections.asyncjobs.named.plugins.module_utils._host.output')


@pytest.fixture(scope='module')
def compared(request, module_runner):
    """command_compare.yml, run once: (results by case: (builtin, ours)), big results,
    work dir)."""
    run, dirs = module_runner(request)
    work = dirs.root / 'work'
    work.mkdir()
    r = run('command_compare.yml', extra_vars={'work_dir': str(work)}, timeout=600)
    cases = r.load('cases')
    builtin_command, builtin_shell, ours = (r.load('builtin_command'), r.load('builtin_shell'),
                                            r.load('ours'))
    results = {}
    for i, case in enumerate(cases):
        builtin = (builtin_shell if case.get('shell') else builtin_command)[i]
        assert builtin['item']['name'] == ours[i]['item']['name'] == case['name']
        results[case['name']] = (builtin, ours[i])
    return results, r.load('big'), work


def _case_ids(ansible_version):
    return [n for n, c in CASES.items()
            if 'min_core' not in c or _version_tuple(c['min_core']) <= ansible_version[:2]]


def unreadable_module_result(result):
    """A result that ansible-core before 2.19 could not read (non-UTF-8 output: "MODULE
    FAILURE: Module "<name>" returned non UTF-8 data"), with what it read as the module's
    result: the message names the task's action (here the test action call_module for
    async_command) and the module's stdout holds its arguments (invocation), which differ;
    the module's own result is compared instead."""
    if 'module_stdout' not in result:
        return result
    result = dict(result)
    result['msg'] = re.sub(r'^MODULE FAILURE: Module "[^"]+"', 'MODULE FAILURE: Module "X"',
                           result['msg'])
    module_result = json.loads(result['module_stdout'])
    module_result.pop('invocation', None)
    result['module_stdout'] = module_result
    return result


def assert_same_result(builtin, ours, what):
    """Every key of both, the same values (times: the same format, or both null)."""
    builtin, ours = unreadable_module_result(builtin), unreadable_module_result(ours)
    if isinstance(builtin.get('module_stdout'), dict):
        assert_same_result(builtin['module_stdout'], ours['module_stdout'], what + ' (module_stdout)')
        builtin, ours = dict(builtin, module_stdout=None), dict(ours, module_stdout=None)
    assert sorted(set(ours) - set(NOT_COMPARED)) == sorted(set(builtin) - set(NOT_COMPARED)), what
    for key in sorted(builtin):
        if key in NOT_COMPARED:
            continue
        if key in TIMES and builtin[key] is not None:
            pattern = DELTA_RE if key == 'delta' else TIME_RE
            assert pattern.match(builtin[key]) and pattern.match(ours[key] or ''), (what, key, ours[key])
        else:
            assert ours[key] == builtin[key], (what, key)


@pytest.mark.parametrize('name', sorted(CASES))
def test_same_result_as_ansible_builtin(compared, ansible_version, name):
    if name not in _case_ids(ansible_version):
        pytest.skip('%s needs ansible-core %s' % (name, CASES[name]['min_core']))
    results, _big, _work = compared
    builtin, ours = results[name]
    assert_same_result(builtin, ours, name)


def test_all_cases_ran(compared, ansible_version):
    results, _big, _work = compared
    assert sorted(results) == sorted(_case_ids(ansible_version))
    # the cases do what they are named for (with the builtin modules)
    assert results['failure'][0]['rc'] == 3 and results['failure'][0]['failed']
    assert results['creates_skip'][0]['msg'].startswith('Did not run command since')
    assert results['removes_skip'][0]['msg'].startswith('Did not run command since')
    assert results['check_mode'][0]['skipped'] is True
    assert results['stdin'][0]['stdout'] == 'line one\nline two'
    assert results['strip_false'][0]['stdout'] == 'a\n\n\n'
    assert results['shell_executable'][0]['stdout'] == 'bash\n/bin/bash'


def test_10mb_of_output(compared):
    _results, big, _work = compared
    builtin, ours, cut = big['builtin'], big['ours'], big['cut']
    # 10,000,000 x in lines of 99 (the last newline stripped)
    assert builtin['stdout_length'] == 10 * 1000 * 1000 + 101010 and builtin['rc'] == 0
    assert builtin['stdout_lines_count'] == 101011
    assert builtin['stderr'] == 'big-err'
    assert_same_result(builtin, ours, '10 MB')
    # a small limit cuts the log, never the result
    assert_same_result(builtin, cut, '10 MB, log limit 64 KiB')


def _records(path):
    with open(str(path), 'rb') as f:
        return f.read().decode('utf-8').split('\n')[:-1]


def _log_lines(output_module, path):
    return output_module.output_tails(str(path), lines=10 ** 9, max_bytes=1 << 40)


@pytest.mark.parametrize('name', sorted(CASES))
def test_output_log(compared, output_module, ansible_version, name):
    """The log holds what the command printed, both streams (ours ran it: no log when the
    command did not run)."""
    if name not in _case_ids(ansible_version):
        pytest.skip('%s needs ansible-core %s' % (name, CASES[name]['min_core']))
    results, _big, work = compared
    builtin, _ours = results[name]
    log = work / ('.output-%s.log' % name)
    if name in NOT_RUN:
        assert not log.exists()
        return
    outs, errs = _log_lines(output_module, log)
    if name.startswith('non_utf8'):
        assert (outs, errs) == (['ok \\xff\\xfe bad \\xc3'], ['\\xe9t\\xe9'])
    elif name == 'strip_false':
        assert (outs, errs) == (['a', '', ''], ['e\r', ''])
    else:
        assert '\n'.join(outs).rstrip('\r\n') == builtin['stdout'], name
        assert '\n'.join(errs).rstrip('\r\n') == builtin['stderr'], name


def test_output_log_order_of_both_streams(compared):
    _results, _big, work = compared
    assert _records(work / '.output-interleaved.log') == [
        'out: o1', 'err: e1', 'out: o2', 'err: e2', 'out: o3']


def test_output_log_of_10mb(compared, output_module):
    _results, _big, work = compared
    path = work / '.output-big.log'
    # every line: 99 x and a newline, 10 x at the end, and stderr (pieces joined)
    assert _log_lines(output_module, path) == (['x' * 99] * 101010 + ['x' * 10], ['big-err'])
    assert output_module.output_tails(str(path), 2) == (['x' * 99, 'x' * 10], ['big-err'])


# The size of that log without a limit, in whole records ("out: " + 99 x + newline...): a
# cut log is this minus what it kept, plus 6 bytes per line that the writer wrote in pieces
# because it waited for its newline (rare: fold writes whole blocks).
BIG_LOG_SIZE = 101010 * 105 + len('out: xxxxxxxxxx\n') + len('err: big-err\n')


def test_output_log_cut_at_its_limit(compared, output_module):
    _results, _big, work = compared
    path = work / '.output-big_cut.log'
    size = path.stat().st_size
    assert size <= 65536
    records = _records(path)
    cuts = [i for i, r in enumerate(records) if r.startswith('cut: ')]
    assert len(cuts) == 1, cuts
    marker = records[cuts[0]]
    cut = int(re.match(r'^cut: (\d+) bytes of this log were cut here$', marker).group(1))
    kept = size - len(marker) - 1
    assert 0 <= cut - (BIG_LOG_SIZE - kept) <= 6 * 20, (cut, kept)
    # the start: the first lines, whole, up to a quarter of the limit
    head = records[:cuts[0]]
    assert head == ['out: ' + 'x' * 99] * len(head) and 16384 - 2 * 105 < len(head) * 105 <= 16384
    # the end: the last lines (pieces joined)
    assert output_module.output_tails(str(path), 3) == (['x' * 99, 'x' * 99, 'x' * 10], ['big-err'])
    # no temp file of a cut is left
    assert sorted(p.name for p in work.iterdir() if p.name.endswith('.tmp')) == []


@pytest.fixture
def start_playbook(request, ansible_playbook, installed_collection, session_dir, test_dirs):
    return background_starter(request, ansible_playbook, installed_collection, session_dir,
                              test_dirs)


def test_output_is_in_the_log_while_the_command_runs(start_playbook, test_dirs, output_module):
    gate = test_dirs.root / 'gate'
    gate.write_text('')
    log = test_dirs.root / '.output-live.log'
    bg = start_playbook('command_live.yml', extra_vars={'gate': str(gate), 'log': str(log)})
    try:
        tails = wait_for(lambda: (log.exists() and output_module.output_tails(str(log))
                                  == (['first line', 'Waiting for the gate: '], ['to stderr'])
                                  and output_module.output_tails(str(log))),
                         60, 'the output in the log while the command waits', proc=bg)
        assert bg.poll() is None and gate.exists()   # the command still waits
        assert tails == (['first line', 'Waiting for the gate: '], ['to stderr'])
        assert _records(log) == ['out: first line', 'err: to stderr', 'out+ Waiting for the gate: ']
    finally:
        gate.unlink()
    assert bg.wait(120) == 0, bg.describe()
    result = json.loads((test_dirs.out_dir / 'live.json').read_text())
    assert result['rc'] == 0 and result['stdout'] == 'first line\nWaiting for the gate: open'
    assert result['stderr'] == 'to stderr'
    assert _records(log) == ['out: first line', 'err: to stderr', 'out+ Waiting for the gate: ',
                             'out: open']
    assert output_module.output_tails(str(log)) == (
        ['first line', 'Waiting for the gate: open'], ['to stderr'])
