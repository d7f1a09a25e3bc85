# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based tests (Hypothesis) of everything the modules parse: job names and ids,
durations, ``jobs`` lists, job files, name links and /proc contents. Every case must end in
a clear error (JobError, with a message) or a correct result; never another exception (a
traceback in the task's result), never a path outside the async dir.

Each test runs FUZZ_EXAMPLES cases (default 300; ``FUZZ_EXAMPLES=5000 make units`` for a
long run), with no example database (nothing is written into the tree). The numbers that
ran are in the closing note of issue 18 and in CONTRIBUTING.md ("Faults").
"""

import json
import os
import shutil
import tempfile

import pytest

hypothesis = pytest.importorskip('hypothesis')
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (  # noqa: E402
    async_dir as adir, job_status as files, processes as procs)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import (  # noqa: E402
    errors, job_model as model, jobs_input as inputs, names)

# Hypothesis keeps caches in .hypothesis of the working directory: not in the tree (the
# collection is built from it), in a temp dir of its own.
set_hypothesis_home_dir(tempfile.mkdtemp(prefix='hypothesis-'))
EXAMPLES = int(os.environ.get('FUZZ_EXAMPLES', '300'))
FUZZ = settings(max_examples=EXAMPLES, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))

# Text that likes the characters paths and names break on.
NASTY = st.lists(st.sampled_from(list('aZ09._-/\\ \x00\n\t~*?[]"\'$`;:é') + ['..', 'jid_']),
                 max_size=20).map(''.join)
ANY_TEXT = st.one_of(st.text(max_size=200), NASTY)
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), ANY_TEXT),
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(ANY_TEXT, children, max_size=5)),
    max_leaves=20)


def ok_or_job_error(fn, *args, **kwargs):
    """Run ``fn``: return (True, result), or (False, JobError) when it refused clearly."""
    try:
        return True, fn(*args, **kwargs)
    except errors.JobError as e:
        assert isinstance(e.msg, str) and e.msg, 'a JobError without a message'
        return False, e


@pytest.fixture
def scratch():
    """An async dir of its own per Hypothesis example (function-scoped fixtures are shared by
    all examples of a test, so each example makes and removes its own)."""
    return lambda: tempfile.mkdtemp(prefix='fuzz-')


# --- names and ids --------------------------------------------------------------------------

@FUZZ
@given(alias=st.one_of(ANY_TEXT, JSONISH))
def test_an_alias_is_valid_or_refused_and_never_leaves_the_dir(alias):
    ok, _error = ok_or_job_error(names.validate, alias=alias)
    if ok and alias is not None:
        path = names.alias_path('/async', alias)
        assert os.path.dirname(os.path.normpath(path)) == '/async'
        assert adir.inside_dir('/async', path)
        assert '\x00' not in alias and '/' not in alias and not alias.startswith('.')


@FUZZ
@given(jid=st.one_of(ANY_TEXT, JSONISH, st.from_regex(names.JID_RE, fullmatch=True)))
def test_a_jid_is_valid_or_refused_and_never_leaves_the_dir(jid):
    ok, _error = ok_or_job_error(names.validate, jid=jid)
    if ok and jid is not None:
        assert os.path.dirname(os.path.normpath(names.job_path('/async', jid))) == '/async'
        prefix = names.jid_prefix(jid)
        assert prefix is None or jid.startswith(prefix + '.')


# --- durations and jobs lists ----------------------------------------------------------------

@FUZZ
@given(value=st.one_of(JSONISH, st.from_regex(r'\A\s*-?[0-9.]*\s*[smhdw]?\s*\Z')))
def test_a_duration_is_seconds_or_refused(value):
    ok, seconds = ok_or_job_error(inputs.parse_duration, value)
    if ok:
        assert isinstance(seconds, float) and seconds >= 0


REF = st.one_of(
    ANY_TEXT, st.from_regex(names.JID_RE, fullmatch=True),
    st.dictionaries(st.sampled_from(['jid', 'alias', 'ansible_job_id', 'x']), JSONISH, max_size=3),
    JSONISH)


@FUZZ
@given(jobs=st.one_of(JSONISH, st.lists(REF, max_size=6),
                      st.fixed_dictionaries({'results': st.lists(REF, max_size=6)})))
def test_a_jobs_list_is_refs_or_refused(jobs):
    ok, refs = ok_or_job_error(inputs.job_refs, jobs)
    if ok:
        assert refs and all(isinstance(r, dict) and set(r) <= {'jid', 'alias'} and r for r in refs)
        for ref in refs:
            names.validate(alias=ref.get('alias'), jid=ref.get('jid'))


# --- job files --------------------------------------------------------------------------------

JOB_CONTENT = st.one_of(
    st.binary(max_size=300),
    JSONISH.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={
        'started': JSONISH, 'finished': JSONISH, 'failed': JSONISH, 'killed': JSONISH,
        'rc': JSONISH, 'msg': JSONISH, 'child_pid': JSONISH, 'pid': JSONISH,
        'ansible_job_id': JSONISH, 'stdout': JSONISH,
    }).map(lambda d: json.dumps(d).encode()),
    st.integers(min_value=1, max_value=20).map(lambda n: b'{"started": 1, "finished": 0, ' * n),
    st.just(b'{"rc": 0, "stdout": "' + b'x' * 300000 + b'"}'),
    st.just(b'\x00' * 64),
)


@FUZZ
@given(content=JOB_CONTENT, jid=st.sampled_from(['j123456789012.4242', '0123456789abcdef']))
def test_a_job_file_of_any_content_has_a_state(scratch, content, jid):
    async_dir = scratch()
    try:
        with open(os.path.join(async_dir, jid), 'wb') as f:
            f.write(content)
        ok, status = ok_or_job_error(files.job_status, async_dir, jid=jid,
                                     liveness=lambda j, owner_uid=None: (False, [], None))
        if ok:
            assert status['state'] in model.STATE_CHOICES
            assert status['ansible_job_id'] == jid
            assert status['results_file'] == os.path.join(async_dir, jid)
    finally:
        shutil.rmtree(async_dir)


# --- name links -----------------------------------------------------------------------------------

LINK_TARGET = st.one_of(
    st.sampled_from(['j1.1', './j1.1', '../j1.1', '/etc/passwd', '/dev/null', 'jid_x',
                     'loop', 'j1.1/', '/', '.', '..', 'j123456789012.4242']),
    NASTY.filter(lambda t: '\x00' not in t and t))


@FUZZ
@given(target=LINK_TARGET, jobfile=st.booleans(), legacy=st.booleans())
def test_a_name_link_of_any_target_leads_into_the_dir_or_is_refused(scratch, target, jobfile,
                                                                    legacy):
    base = scratch()
    async_dir = os.path.join(base, 'async')
    os.mkdir(async_dir)
    try:
        if jobfile:
            with open(os.path.join(async_dir, 'j1.1'), 'w') as f:
                f.write('{"rc": 0}')
        os.symlink('loop', os.path.join(async_dir, 'loop'))  # a link to itself
        link = os.path.join(async_dir, 'j1.1.jid_x' if legacy else 'jid_x')
        os.symlink(target, link)
        ok, found = ok_or_job_error(adir.find_alias, async_dir, 'x')
        if ok and found[1] is not None:
            assert adir.inside_dir(async_dir, found[1])
            assert names.JID_RE.match(os.path.basename(found[1]))
        ok, status = ok_or_job_error(files.job_status, async_dir, alias='x',
                                     liveness=lambda j, owner_uid=None: (False, [], None))
        if ok:
            assert status['state'] in model.STATE_CHOICES
            assert adir.inside_dir(async_dir, status['results_file'])
    finally:
        shutil.rmtree(base)


# --- /proc ------------------------------------------------------------------------------------------

PROC_FILE = st.one_of(st.binary(max_size=200), NASTY.map(lambda t: t.encode('utf-8')),
                      st.just(b'1 (a b) S 1 2 3 4'), st.just(b''), st.just(b'1 (x))) R'))


@FUZZ
@given(cmdline=PROC_FILE, stat=PROC_FILE, prefix=st.sampled_from(['j1', 'j123456789012']))
def test_proc_contents_never_break_the_process_table(scratch, cmdline, stat, prefix):
    proc = scratch()
    try:
        for pid, raw in (('4242', cmdline),
                         ('4243', b'python\x00/t/async_wrapper.py\x00' + prefix.encode() + b'\x00')):
            os.mkdir(os.path.join(proc, pid))
            with open(os.path.join(proc, pid, 'cmdline'), 'wb') as f:
                f.write(raw)
            with open(os.path.join(proc, pid, 'stat'), 'wb') as f:
                f.write(stat)
        os.mkdir(os.path.join(proc, 'self'))
        entries, _complete = procs.processes(proc, stat=True)
        for entry in entries:
            assert isinstance(entry['pid'], int) and isinstance(entry['args'], list)
        alive, pids, why = procs.wrapper_liveness(prefix + '.4243', proc)
        assert alive in (True, False, None) and (alive is not None or why)
        assert procs.cmdline_args(cmdline) == [
            a for a in cmdline.decode('utf-8', 'replace').split('\0') if a]
    finally:
        shutil.rmtree(proc)
