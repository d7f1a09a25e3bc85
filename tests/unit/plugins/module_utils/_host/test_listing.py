# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_host.listing: the listing of an async dir (async_jobs_info): jobs in every state with their
names (both link forms, and the name async_task started them under), times and what they
run; names (dangling, pointing outside); claims; filters; one liveness scan for all; 1,000
jobs. Real files in temp dirs; liveness injected."""

import json
import os
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    listing, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._host.output import output_tails

from unit_helpers import make_link, write_claim, write_job

NOW = 1800000000.0
RUNNING = {'started': 1, 'finished': 0}
CMD_DONE = {'cmd': 'echo hi', 'rc': 0, 'stdout': 'hi', 'start': '2027-01-15 08:00:00.250000',
            'end': '2027-01-15 08:00:10.750000', 'changed': True, 'msg': '',
            'invocation': {'module_args': {'_raw_params': 'echo hi', '_uses_shell': True}}}
FAILED = {'cmd': ['false'], 'rc': 1, 'failed': True, 'msg': 'non-zero return code'}
TIMED_OUT = {'msg': 'Timeout exceeded', 'failed': True, 'child_pid': 1}
KILLED = {'started': 1, 'finished': 1, 'killed': True, 'failed': True, 'msg': 'killed'}


def at(path, epoch):
    os.utime(path, (epoch, epoch))
    return path


def snapshot_liveness(answers, calls):
    """A liveness_for: records each scan's jids, answers alive/dead per jid."""
    def liveness_for(jids):
        calls.append(sorted(jids))
        return lambda jid, owner_uid=None: ((True, [4242], None) if answers.get(jid)
                                            else (False, [], None))
    return liveness_for


@pytest.fixture
def dir_of_every_kind(async_dir):
    """Jobs in every state, both name forms, a dangling name, a name outside, a claim, a
    lock, a meta, a temp file and a foreign file."""
    def a(name):
        return os.path.join(async_dir, name)

    at(write_job(async_dir, 'j1.1', RUNNING), NOW - 100)
    at(write_job(async_dir, 'j2.2', CMD_DONE), NOW - 50)
    at(write_job(async_dir, 'j3.3', FAILED), NOW - 40)
    at(write_job(async_dir, 'j4.4', TIMED_OUT), NOW - 30)
    at(write_job(async_dir, 'j5.5', KILLED), NOW - 20)
    at(write_job(async_dir, 'j6.6', RUNNING), NOW - 500)  # its wrapper is gone: orphaned
    make_link(async_dir, 'jid_build', 'j1.1')
    make_link(async_dir, 'j2.2.jid_old', 'j2.2')
    make_link(async_dir, 'jid_gone', 'j9.9')
    make_link(async_dir, 'jid_out', '/etc/passwd')
    changes.write_meta(async_dir, 'j1.1', 'build', NOW - 120, what='shell: make all')
    write_claim(async_dir, 'deploy', 'tok', when=NOW - 5, jid_prefix='j77')
    at(os.path.join(async_dir, '.jid_deploy.claim'), NOW - 5)
    open(a('.jid_build.lock'), 'w').close()
    open(a('j4.4.tmp'), 'w').close()
    open(a('notes.txt'), 'w').close()
    return async_dir


def listed(async_dir, calls=None, **kwargs):
    calls = [] if calls is None else calls
    return listing.list_jobs(async_dir, liveness_for=snapshot_liveness({'j1.1': True}, calls),
                             clock=lambda: NOW, **kwargs)


def test_every_state_with_names_times_and_what(dir_of_every_kind):
    calls = []
    result = listed(dir_of_every_kind, calls)
    jobs = dict((j['ansible_job_id'], j) for j in result['jobs'])
    assert sorted(jobs) == ['j1.1', 'j2.2', 'j3.3', 'j4.4', 'j5.5', 'j6.6']
    assert calls == [['j1.1', 'j6.6']]  # one scan, for the unfinished jobs only
    states = dict((jid, j['state']) for jid, j in jobs.items())
    assert states == {'j1.1': 'running', 'j2.2': 'succeeded', 'j3.3': 'failed',
                      'j4.4': 'timed_out', 'j5.5': 'killed', 'j6.6': 'orphaned'}
    run = jobs['j1.1']
    assert run['aliases'] == ['build'] and run['pids'] == [4242]
    assert run['start_time'] == listing.iso_utc(NOW - 120)  # async_task's record
    assert run['end_time'] is None and run['duration'] == 120.0
    assert run['what'] == 'shell: make all' and run['rc'] is None and run['msg'] is None
    done = jobs['j2.2']
    assert done['aliases'] == ['old']  # the older form counts
    assert done['start_time'] == listing.iso_utc(listing.local_time(CMD_DONE['start']))
    assert done['duration'] == 10.5 and done['rc'] == 0 and done['pids'] == []
    assert done['what'] == 'shell: echo hi'
    assert done['results_file'] == os.path.join(dir_of_every_kind, 'j2.2')
    assert done['size'] == os.path.getsize(done['results_file'])
    assert jobs['j3.3']['what'] == 'command: false' and jobs['j3.3']['msg'] == 'non-zero return code'
    # no start known: the end is the file's last write; orphaned: no end
    assert jobs['j4.4']['start_time'] is None
    assert jobs['j4.4']['end_time'] == listing.iso_utc(NOW - 30)
    assert jobs['j6.6']['end_time'] is None and jobs['j6.6']['duration'] is None
    # newest last; the ones whose start is not known first (by job id)
    starts = {'j1.1': NOW - 120, 'j2.2': listing.local_time(CMD_DONE['start'])}
    assert [j['ansible_job_id'] for j in result['jobs']] == (
        ['j3.3', 'j4.4', 'j5.5', 'j6.6'] + sorted(starts, key=starts.get))


def test_names_and_claims(dir_of_every_kind):
    result = listed(dir_of_every_kind)
    names = dict((n['name'], n) for n in result['names'])
    assert sorted(names) == ['build', 'gone', 'old', 'out']
    assert names['build']['job'] == 'j1.1' and not names['build']['dangling']
    assert names['old']['form'] == '<jid>.jid_<alias>'
    assert names['gone']['dangling'] is True and names['gone']['job'] == 'j9.9'
    assert names['out']['outside'] is True and names['out']['job'] is None
    assert names['out']['target'] == '/etc/passwd'
    claim = os.path.join(dir_of_every_kind, '.jid_deploy.claim')
    assert result['claims'] == [dict(name='deploy', path=claim, age=5.0, jid_prefix='j77')]


@pytest.mark.parametrize('kwargs,jids', [
    (dict(patterns=['bui*']), ['j1.1']),
    (dict(patterns=['old', 'build']), ['j1.1', 'j2.2']),
    (dict(states=['failed', 'killed']), ['j3.3', 'j5.5']),
    (dict(unnamed=False), ['j1.1', 'j2.2']),
    (dict(patterns=['nothing']), []),
])
def test_filters(dir_of_every_kind, kwargs, jids):
    assert sorted(j['ansible_job_id'] for j in listed(dir_of_every_kind, **kwargs)['jobs']) == jids


def test_the_start_name_counts_as_a_name(async_dir):
    """A job async_task started and whose name was freed since keeps that name for filters."""
    write_job(async_dir, 'j1.1', CMD_DONE)
    changes.write_meta(async_dir, 'j1.1', 'nightly', NOW - 60)
    result = listed(async_dir, patterns=['nightly'])
    assert [j['aliases'] for j in result['jobs']] == [['nightly']]


def test_empty_and_missing_dirs(tmp_path, async_dir):
    empty = dict(jobs=[], names=[], claims=[])
    assert listed(async_dir) == empty
    assert listed(str(tmp_path / 'nope')) == empty


def test_a_thousand_jobs_one_scan(async_dir):
    for i in range(1000):
        write_job(async_dir, 'j%d.1' % i, RUNNING if i % 2 else CMD_DONE)
        if i % 3 == 0:
            make_link(async_dir, 'jid_n%d' % i, 'j%d.1' % i)
    calls = []
    started = time.time()
    result = listed(async_dir, calls)
    assert len(result['jobs']) == 1000 and len(result['names']) == 334
    assert len(calls) == 1 and len(calls[0]) == 500
    assert time.time() - started < 30  # a sanity bound; the figures are in bench/


@pytest.mark.parametrize('text,epoch', [
    ('2027-01-15 08:00:00.250000', time.mktime((2027, 1, 15, 8, 0, 0, 0, 0, -1)) + 0.25),
    ('2027-01-15 08:00:00', time.mktime((2027, 1, 15, 8, 0, 0, 0, 0, -1))),
    ('yesterday', None), (None, None), (42, None), ('2027-13-45 99:00:00', None),
])
def test_local_time(text, epoch):
    assert listing.local_time(text) == epoch


def test_iso_utc():
    assert listing.iso_utc(0) == '1970-01-01T00:00:00Z'
    assert listing.iso_utc(1800000000.9) == '2027-01-15T08:00:00Z'
    assert listing.iso_utc(None) is None


@pytest.mark.parametrize('data,meta,what', [
    # ansible.builtin.command's cmd is the list it ran, ansible.builtin.shell's a string,
    # with or without the invocation (2.21 async results have none)
    ({'cmd': ['ls', 'a b']}, None, "command: ls 'a b'"),
    ({'cmd': ['ls', '-l'], 'invocation': {'module_args': {'_uses_shell': False}}}, None,
     'command: ls -l'),
    ({'cmd': 'ls -l; x'}, None, 'shell: ls -l; x'),
    ({'cmd': 'x', 'invocation': {'module_args': {'_uses_shell': True}}}, None, 'shell: x'),
    ({'cmd': []}, None, None),
    ({'cmd': 'x'}, {'what': 'module: ping'}, 'module: ping'),
    ({'rc': 0}, None, None),
    (None, None, None),
])
def test_describe_what(data, meta, what):
    assert listing.describe_what(data, meta) == what


def test_unreadable_meta_is_ignored(async_dir):
    write_job(async_dir, 'j1.1', CMD_DONE)
    with open(os.path.join(async_dir, '.j1.1.meta'), 'w') as f:
        f.write('{not json')
    job = listed(async_dir)['jobs'][0]
    assert job['what'] == 'shell: echo hi' and job['aliases'] == []


def test_liveness_is_the_real_one_by_default(async_dir, fake_wrapper):
    write_job(async_dir, fake_wrapper.jid, RUNNING)
    job = listing.list_jobs(async_dir)['jobs'][0]
    assert job['state'] == 'running' and job['pids'] == [fake_wrapper.pid]


def test_the_listing_is_plain_json(dir_of_every_kind):
    result = listed(dir_of_every_kind)
    assert json.loads(json.dumps(result)) == result  # only JSON types: a module returns it


# --- the tails of a running job's output --------------------------------------------------------

def test_tails_of_running_jobs_only(async_dir):
    at(write_job(async_dir, 'j1.1', RUNNING), NOW - 100)
    changes.write_meta(async_dir, 'j1.1', 'build', NOW - 100, output='.output-run.log')
    write_job(async_dir, '.output-run.log', 'out: a\nerr: oops\nout: b\nout: c\n')
    at(write_job(async_dir, 'j2.2', CMD_DONE), NOW - 50)
    changes.write_meta(async_dir, 'j2.2', 'done', NOW - 60, output='.output-done.log')
    write_job(async_dir, '.output-done.log', 'out: hi\n')
    at(write_job(async_dir, 'j3.3', RUNNING), NOW - 10)  # no log: the module form
    changes.write_meta(async_dir, 'j3.3', 'ping', NOW - 10, what='module: ping')
    seen = []

    def tails(path, lines):
        seen.append((os.path.basename(path), lines))
        return output_tails(path, lines)

    result = listing.list_jobs(async_dir, tail_lines=2, tails=tails, clock=lambda: NOW,
                               liveness_for=snapshot_liveness({'j1.1': True, 'j3.3': True}, []))
    jobs = dict((j['ansible_job_id'], j) for j in result['jobs'])
    assert (jobs['j1.1']['stdout_tail'], jobs['j1.1']['stderr_tail']) == (['b', 'c'], ['oops'])
    assert 'stdout_tail' not in jobs['j2.2'] and 'stdout_tail' not in jobs['j3.3']
    assert seen == [('.output-run.log', 2)]  # the log of a finished job is not read
    # and output logs are files of ours, not foreign ones
    assert sorted(os.path.basename(p) for p in listing.Listing(async_dir).outputs) == [
        '.output-done.log', '.output-run.log']
