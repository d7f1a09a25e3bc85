# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/keeper.py and of the keeper's part in
containment.py: the record, the descendants on a fake /proc, and real keepers (forked from
the test) that adopt a daemonized child, sweep a timed-out job's leftovers as soon as the
job's file says so, and record the job's figures once nothing of it is left.
"""

import json
import os
import subprocess
import time

import pytest

from unit_helpers import wait_until

from ansible_collections.asyncjobs.named.plugins.module_utils._host import containment as c
from ansible_collections.asyncjobs.named.plugins.module_utils._host import containment_record as r
from ansible_collections.asyncjobs.named.plugins.module_utils._host import keeper, writes


@pytest.mark.parametrize('given, kept', [
    (dict(pid=4242, start=99), dict(pid=4242, start=99)),
    (dict(pid=4242, start=0), dict(pid=4242, start=0)),
    (dict(pid=1, start=5), None),
    (dict(pid=True, start=5), None),
    (dict(pid='4242', start=5), None),
    (dict(pid=4242, start=-1), None),
    (dict(pid=4242), None),
    ('4242', None),
])
def test_a_record_keeps_only_a_well_formed_keeper(given, kept):
    for raw in (dict(mechanism='environ', mark='j5', keeper=given),
                dict(mechanism='cgroup', mark='j5', keeper=given,
                     dirs=dict(freezer='/sys/fs/cgroup/freezer/asyncjobs_named/j5'))):
        record = r.valid_record(raw, 'j5', set(['/sys/fs/cgroup/freezer']))
        assert record['mechanism'] == raw['mechanism']
        assert record.get('keeper') == kept


def _fake_proc(tmp_path, table):
    """A /proc of ``table``: {pid: (ppid, state, start)}."""
    proc = tmp_path / 'proc'
    for pid, (ppid, state, start) in table.items():
        (proc / str(pid)).mkdir(parents=True)
        fields = [state, str(ppid), str(pid), str(pid)] + ['0'] * 15 + [str(start), '0']
        (proc / str(pid) / 'stat').write_text('%d (a (b) c) %s\n' % (pid, ' '.join(fields)))
    (proc / 'self').mkdir()
    return str(proc)


def test_descendants_are_the_keepers_whole_tree_and_only_while_it_lives(tmp_path):
    proc = _fake_proc(tmp_path, {
        100: (1, 'S', 555), 101: (100, 'S', 600), 102: (101, 'S', 601),
        103: (102, 'Z', 602), 200: (1, 'S', 700), 201: (200, 'S', 701)})
    record = dict(mechanism='environ', mark='j5', keeper=dict(pid=100, start=555))
    assert c.keeper_alive(record, proc)
    assert c.descendants(record, proc) == set([101, 102, 103])
    # Another process got the pid since (another start time): nobody's descendant.
    assert c.descendants(dict(record, keeper=dict(pid=100, start=556)), proc) == set()
    assert c.descendants(dict(record, keeper=dict(pid=300, start=555)), proc) == set()
    assert c.descendants(dict(mechanism='environ', mark='j5'), proc) == set()


def test_a_zombie_keeper_is_gone(tmp_path):
    proc = _fake_proc(tmp_path, {100: (1, 'Z', 555), 101: (100, 'S', 600)})
    record = dict(mechanism='environ', mark='j5', keeper=dict(pid=100, start=555))
    assert not c.keeper_alive(record, proc) and c.descendants(record, proc) == set()


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (IOError, OSError):
        return False


def _sleepers(tag):
    found = []
    for name in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                if f.read().split(b'\0')[:2] == [b'sleep', tag.encode()]:
                    found.append(int(name))
        except (IOError, OSError):
            pass
    return [pid for pid in found if _alive(pid)]


def _launch(async_dir, jid, script, tag):
    """Launch ``script`` (sh) as a job's start would, in a keeper, marked for the job."""
    prefix = jid.split('.')[0]

    def run():
        record = dict(mechanism='environ', mark=prefix)
        sh = subprocess.Popen(['sh', '-c', script], env=c.marked_env(None, record))
        sh.wait()
        return dict(started=1, ansible_job_id=jid), record
    reply, record = keeper.launch(run, async_dir)
    assert reply == dict(started=1, ansible_job_id=jid)
    return record


def test_a_keeper_adopts_a_daemon_that_cleared_its_environment(tmp_path):
    async_dir = str(tmp_path)
    tag = '41.%d' % os.getpid()
    jid = 'j%d.77' % (os.getpid() * 1000 + 11)
    record = _launch(async_dir, jid, '(setsid env -i sleep %s &)' % tag, tag)
    try:
        assert c.keeper_alive(record), record
        pids = wait_until(lambda: _sleepers(tag), what='the daemon')
        assert len(pids) == 1
        # Not marked, not in the starter's tree: only the keeper still knows it.
        assert c.environ_members(record['mark'])[0] == set()
        assert c.descendants(record) == set(pids)
        assert c.members(record)[0] == set(pids)
    finally:
        for pid in _sleepers(tag):
            os.kill(pid, 9)
        keeper.release()
    # Nothing of the job left: the keeper ends.
    wait_until(lambda: not c.keeper_alive(record), what='the keeper to end')


def test_a_keeper_sweeps_a_timed_out_job_and_records_its_figures(tmp_path):
    async_dir = str(tmp_path)
    tag = '43.%d' % os.getpid()
    jid = 'j%d.78' % (os.getpid() * 1000 + 12)
    path = os.path.join(async_dir, jid)
    with open(path, 'w') as f:
        json.dump(dict(started=1, finished=0, ansible_job_id=jid), f)
    # A daemon of the job, and a short-lived orphan: the keeper wakes when it ends.
    record = _launch(async_dir, jid, '(setsid sleep %s &); (sleep 1 &)' % tag, tag)
    try:
        writes.write_meta(async_dir, jid, 'a', time.time(), containment=record)
        with open(path, 'w') as f:
            json.dump(dict(failed=True, msg='Timeout exceeded', child_pid=1), f)
        daemon = wait_until(lambda: _sleepers(tag), what='the daemon')
        keeper.release()
        # Swept by the keeper, with no status read of ours.
        wait_until(lambda: not _sleepers(tag), what='the daemon swept')

        def final():
            with open(os.path.join(async_dir, '.%s.meta' % jid)) as f:
                return json.load(f)['containment'].get('final')
        kept = wait_until(final, what='the final figures')
        assert kept == dict(mechanism='environ', swept=daemon), kept
        wait_until(lambda: not c.keeper_alive(record), what='the keeper to end')
    finally:
        for pid in _sleepers(tag):
            os.kill(pid, 9)
        keeper.release()


def test_a_keeper_that_fails_before_the_job_runs_says_so(tmp_path):
    def run():
        raise OSError('no shell')
    with pytest.raises(keeper.KeeperError) as e:
        keeper.launch(run, str(tmp_path))
    assert 'OSError: no shell' in str(e.value)
    keeper.release()
