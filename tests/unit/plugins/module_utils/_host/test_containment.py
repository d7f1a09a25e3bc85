# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/containment.py and containment_record.py: a
job's cgroup or its mark.

The parsers and the record check run on text; making, reading and removing job cgroups on
a fake cgroup tree (plain dirs and files in a temp dir); the environment mark and, as root
where cgroups are writable, a real cgroup on real processes (a child that daemonizes with
setsid included).
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import containment as c
from ansible_collections.asyncjobs.named.plugins.module_utils._host import containment_record as r

MOUNTINFO = '''\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
'''
PROC_CGROUP = '''\
9:name=systemd:/
8:pids:/
6:freezer:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
'''


def test_parse_proc_cgroup_v1_v2_and_comounted():
    found = c.parse_proc_cgroup(PROC_CGROUP + '3:cpu,cpuacct:/x\n')
    assert found['memory'] == '/process_api/abc' and found[''] == '/'
    assert found['cpu'] == found['cpuacct'] == '/x'
    assert found['name=systemd'] == '/'
    assert c.parse_proc_cgroup('garbage\n') == {}


def test_parse_mountinfo_takes_cgroup_mounts_only():
    mounts = r.parse_mountinfo(MOUNTINFO + r'50 31 0:40 /sub /mnt/with\040space rw - cgroup '
                                           'cgroup rw,blkio\n')
    assert mounts['memory'] == ('/sys/fs/cgroup/memory', '/')
    assert mounts[''] == ('/sys/fs/cgroup/unified', '/')
    assert 'blkio' not in mounts and 'name=systemd' not in mounts
    assert r.parse_mountinfo('50 31 0:40 /sub /mnt/a\\040b rw - cgroup cgroup rw,pids\n') == {
        'pids': ('/mnt/a b', '/sub')}


def test_base_dirs_are_the_runners_own_cgroups_v1_first():
    bases = c.base_dirs(r.parse_mountinfo(MOUNTINFO), c.parse_proc_cgroup(PROC_CGROUP))
    assert bases == {'freezer': '/sys/fs/cgroup/freezer', 'pids': '/sys/fs/cgroup/pids',
                     'memory': '/sys/fs/cgroup/memory/process_api/abc',
                     'cpuacct': '/sys/fs/cgroup/cpuacct', 'cpu': '/sys/fs/cgroup/cpu'}
    assert c.job_dirs(bases, 'j12')['memory'] == \
        '/sys/fs/cgroup/memory/process_api/abc/asyncjobs_named/j12'


def test_base_dirs_v2_only_and_mount_roots():
    mounts = {'': ('/sys/fs/cgroup', '/')}
    assert c.base_dirs(mounts, {'': '/user.slice/s.scope'}) == {
        '': '/sys/fs/cgroup/user.slice/s.scope'}
    # a mount of a subtree: paths relative to its root; a cgroup outside it is not used
    assert c.base_dirs({'': ('/cg', '/a')}, {'': '/a/b'}) == {'': '/cg/b'}
    assert c.base_dirs({'': ('/cg', '/a')}, {'': '/ab'}) == {}
    assert c.base_dirs({}, {'': '/'}) == {}


MOUNTS = set(['/sys/fs/cgroup/freezer', '/sys/fs/cgroup/unified'])


@pytest.mark.parametrize('dirs', [
    {'freezer': '/sys/fs/cgroup/freezer/asyncjobs_named/j12'},
    {'': '/sys/fs/cgroup/unified/a/b/asyncjobs_named/j12'},
])
def test_a_record_of_the_jobs_own_cgroups_is_valid(dirs):
    record = r.valid_record(dict(mechanism='cgroup', dirs=dirs, mark='j12'), 'j12', MOUNTS)
    assert record == dict(mechanism='cgroup', dirs=dirs, mark='j12')


@pytest.mark.parametrize('record', [
    None, 'cgroup', {}, dict(mechanism='other'),
    dict(mechanism='environ', mark='j13'),
    dict(mechanism='cgroup', dirs={}),
    dict(mechanism='cgroup', dirs={'freezer': '/sys/fs/cgroup/freezer/asyncjobs_named/j13'}),
    dict(mechanism='cgroup', dirs={'freezer': '/sys/fs/cgroup/freezer/other/j12'}),
    dict(mechanism='cgroup', dirs={'freezer': '/tmp/x/asyncjobs_named/j12'}),
    dict(mechanism='cgroup', dirs={'freezer': '/sys/fs/cgroup/freezer/../x/asyncjobs_named/j12'}),
    dict(mechanism='cgroup', dirs={'freezer': 'sys/fs/cgroup/freezer/asyncjobs_named/j12'}),
    dict(mechanism='cgroup', dirs={'blkio': '/sys/fs/cgroup/freezer/asyncjobs_named/j12'}),
    dict(mechanism='cgroup', dirs={'freezer': 12}),
])
def test_a_record_that_could_lead_elsewhere_is_refused(record):
    assert r.valid_record(record, 'j12', MOUNTS) is None


def test_the_fallback_record_needs_the_jobs_own_mark():
    assert r.valid_record(dict(mechanism='environ', mark='j12'), 'j12', MOUNTS) == dict(
        mechanism='environ', mark='j12')
    assert r.valid_record(dict(mechanism='environ', mark='j12'), '../x', MOUNTS) is None


@pytest.mark.parametrize('value, size', [
    ('2G', 2 << 30), ('512M', 512 << 20), ('512MiB', 512 << 20), ('1.5g', 3 << 29),
    (1 << 21, 1 << 21), ('2097152', 1 << 21)])
def test_parse_size(value, size):
    assert c.parse_size(value) == size


@pytest.mark.parametrize('limits, why', [
    ('2G', 'must be a dict'), (dict(memory='lots'), 'invalid memory limit'),
    (dict(memory='1k'), 'under 1M'), (dict(memory=True), 'invalid memory limit'),
    (dict(cpu='fast'), 'invalid cpu limit'), (dict(cpu=0), 'invalid cpu limit'),
    (dict(tasks=0), 'invalid tasks limit'), (dict(tasks='many'), 'invalid tasks limit'),
    (dict(disk=1), 'unknown limits disk'),
])
def test_bad_limits_are_refused(limits, why):
    with pytest.raises(c.ContainmentError) as e:
        c.check_limits(limits)
    assert why in str(e.value)


def test_limits_are_written_where_each_hierarchy_has_them():
    limits = c.check_limits(dict(memory='64M', cpu=1.5, tasks='32'))
    assert limits == dict(memory=64 << 20, cpu=1.5, tasks=32)
    v1 = dict(memory='/m/j', cpu='/c/j', pids='/p/j')
    assert c._limit_files(v1, limits) == [
        ('/c/j/cpu.cfs_period_us', '100000'), ('/c/j/cpu.cfs_quota_us', '150000'),
        ('/m/j/memory.limit_in_bytes', str(64 << 20)), ('/p/j/pids.max', '32')]
    assert c._limit_files({'': '/u/j'}, limits) == [
        ('/u/j/cpu.max', '150000 100000'), ('/u/j/memory.max', str(64 << 20)),
        ('/u/j/pids.max', '32')]
    with pytest.raises(c.ContainmentError):
        c._limit_files(dict(freezer='/f/j'), dict(memory=1 << 30))


def fake_tree(tmp_path):
    """Fake hierarchies (plain dirs): bases for freezer and memory."""
    bases = {}
    for key in ('freezer', 'memory'):
        d = tmp_path / key
        d.mkdir()
        bases[key] = str(d)
    return bases


def test_make_members_usage_and_remove_on_a_fake_tree(tmp_path):
    bases = fake_tree(tmp_path)
    dirs = c.job_dirs(bases, 'j7')
    c.make(dirs)
    assert all(os.path.isdir(d) for d in dirs.values())
    record = dict(mechanism='cgroup', dirs=dirs, mark='j7')
    assert c.cgroup_members(record) == (set(), True)
    child = subprocess.Popen(['sleep', '30'])
    try:
        for d in dirs.values():
            with open(os.path.join(d, 'cgroup.procs'), 'w') as f:
                f.write('%d\n' % child.pid)
        with open(os.path.join(dirs['memory'], 'memory.max_usage_in_bytes'), 'w') as f:
            f.write('1048576\n')
        with open(os.path.join(dirs['memory'], 'memory.oom_control'), 'w') as f:
            f.write('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n')
        assert c.members(record)[0] == set([child.pid])
        assert r.usage(record) == dict(memory_peak=1 << 20, oom_kills=2)
        assert c.remove(record) == sorted(dirs.values())  # not empty: kept
    finally:
        child.kill()
        child.wait()
    assert c.members(record)[0] == set()  # a zombie or a gone process is no member
    for d in dirs.values():
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
    assert c.remove(record) == [] and not any(os.path.exists(d) for d in dirs.values())
    assert c.cgroup_members(record) == (set(), True)  # gone: no members
    assert r.usage(record) is None


def test_usage_of_cgroup_v2(tmp_path):
    d = tmp_path / 'j8'
    d.mkdir()
    (d / 'cpu.stat').write_text('usage_usec 2500000\nuser_usec 2000000\n')
    (d / 'memory.peak').write_text('4096\n')
    (d / 'memory.events').write_text('low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n')
    record = dict(mechanism='cgroup', dirs={'': str(d)}, mark='j8')
    assert r.usage(record) == dict(cpu_seconds=2.5, memory_peak=4096, oom_kills=1)
    assert r.usage(dict(mechanism='environ', mark='j8')) is None


def test_make_gives_up_whole(tmp_path):
    bases = fake_tree(tmp_path)
    dirs = c.job_dirs(bases, 'j9')
    os.makedirs(dirs['memory'])  # taken: make fails and leaves nothing of its own
    with pytest.raises(OSError):
        c.make(dirs)
    assert not os.path.exists(dirs['freezer']) and os.path.isdir(dirs['memory'])


def test_remove_stale_takes_only_old_empty_job_cgroups(tmp_path):
    bases = fake_tree(tmp_path)
    for prefix in ('j1', 'j2', 'j3'):
        c.make(c.job_dirs(bases, prefix))
    busy = c.job_dirs(bases, 'j3')['freezer']
    open(os.path.join(busy, 'cgroup.procs'), 'w').close()
    other = os.path.join(bases['freezer'], c.GROUP_DIR, 'not-a-job')
    os.mkdir(other)
    old = time.time() - c.STALE_AFTER - 10
    for prefix in ('j1', 'j3'):
        os.utime(os.path.join(bases['freezer'], c.GROUP_DIR, prefix), (old, old))
    assert c.remove_stale(bases) == ['j1']
    assert not os.path.exists(c.job_dirs(bases, 'j1')['memory'])
    assert os.path.isdir(c.job_dirs(bases, 'j2')['freezer'])  # young: its status may come
    assert os.path.isdir(busy) and os.path.isdir(other)


def test_environ_members_are_the_marked_processes():
    mark = 'j%d' % (os.getpid() * 1000 + 17)
    env = c.marked_env(dict(os.environ), dict(mark=mark))
    assert env[c.MARK_VAR] == mark
    marked = subprocess.Popen(['sleep', '30'], env=env)
    other = subprocess.Popen(['sleep', '30'], env=dict(env, ASYNCJOBS_NAMED_JOB=mark + '1'))
    cleared = subprocess.Popen(['env', '-i', 'sleep', '30'], env=env)
    try:
        time.sleep(0.2)
        pids, _complete = c.environ_members(mark)
        assert pids == set([marked.pid]), (pids, marked.pid, other.pid, cleared.pid)
        assert c.members(dict(mechanism='environ', mark=mark))[0] == set([marked.pid])
    finally:
        for p in (marked, other, cleared):
            p.kill()
            p.wait()


def test_prepare_refuses_limits_it_cannot_set(tmp_path):
    proc = tmp_path / 'proc'
    (proc / 'self').mkdir(parents=True)
    (proc / 'self' / 'mountinfo').write_text('1 1 0:1 / / rw - ext4 /dev/sda rw\n')
    (proc / 'self' / 'cgroup').write_text('0::/\n')
    expected = (dict(mechanism='environ', mark='j5'), 'no cgroup hierarchy is mounted')
    assert c.prepare('j5', proc=str(proc)) == expected
    with pytest.raises(c.ContainmentError) as e:
        c.prepare('j5', dict(memory='1G'), proc=str(proc))
    assert 'limits need a cgroup of the job' in str(e.value)


def _can_make_cgroups():
    if os.geteuid() != 0 or not sys.platform.startswith('linux'):
        return False
    record, _why = c.prepare('j%d' % (os.getpid() * 1000 + 1))
    c.remove(record)
    return record['mechanism'] == 'cgroup'


needs_cgroups = pytest.mark.skipif(not _can_make_cgroups(),
                                   reason='needs root and a writable cgroup fs')


@needs_cgroups
def test_a_real_cgroup_holds_a_daemonized_child_and_stops_it():
    prefix = 'j%d' % (os.getpid() * 1000 + 2)
    record, why = c.prepare(prefix, dict(tasks=64))
    assert why is None and record['mechanism'] == 'cgroup', why
    try:
        sh = subprocess.Popen(['sh', '-c', '(setsid sleep 61 &); sleep 62'],
                              preexec_fn=c.joiner(record), env=c.marked_env(None, record))
        deadline = time.time() + 5
        while len(c.members(record)[0]) < 3 and time.time() < deadline:
            time.sleep(0.05)
        members = c.members(record)[0]
        assert sh.pid in members and len(members) == 3, members
        assert c.environ_members(prefix)[0] == members
        with open(os.path.join(record['dirs']['pids'], 'pids.max')) as f:
            assert f.read().strip() == '64'
        assert c.freeze(record) is True
        c.thaw(record)
        signalled, left = c.stop_members(record, signal.SIGTERM, grace=2.0)
        assert set(signalled) == members and left == []
        sh.wait()
        assert 'cpu_seconds' in r.usage(record) and r.usage(record)['memory_peak'] > 0
    finally:
        c.stop_members(record, signal.SIGKILL, 0)
        assert c.remove(record) == []
    assert not any(os.path.exists(d) for d in record['dirs'].values())


@needs_cgroups
def test_a_status_records_the_figures_and_removes_the_cgroup(tmp_path):
    """job_status of an ended job of a cgroup: its figures, recorded in its meta file once
    nothing of it is left, and its cgroup removed; a timed-out job's leftovers are killed."""
    import json
    from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
        job_status as files, writes)
    async_dir = str(tmp_path)
    prefix = 'j%d' % (os.getpid() * 1000 + 3)
    jid = prefix + '.1'
    record, _why = c.prepare(prefix)
    sleeper = subprocess.Popen(['sleep', '60'], preexec_fn=c.joiner(record))
    try:
        writes.write_meta(async_dir, jid, 'a', time.time(), containment=record)
        with open(os.path.join(async_dir, jid), 'w') as f:
            json.dump(dict(failed=True, msg='Timeout exceeded', child_pid=1), f)
        status = files.job_status(async_dir, jid=jid)
        assert status['state'] == 'timed_out'
        assert status['containment']['swept'] == [sleeper.pid]
        assert 'cpu_seconds' in status['containment']
        sleeper.wait()
        assert not any(os.path.exists(d) for d in record['dirs'].values())
        with open(os.path.join(async_dir, '.%s.meta' % jid)) as f:
            assert json.load(f)['containment']['final'] == status['containment']
        assert files.job_status(async_dir, jid=jid)['containment'] == status['containment']
    finally:
        sleeper.kill()
        sleeper.wait()
        c.remove(record)
