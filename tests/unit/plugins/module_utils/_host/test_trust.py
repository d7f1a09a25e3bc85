# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/trust.py: which async dirs are safe to write in
(owner, mode, sticky; the parents of one we create), and that nothing we write follows a
link planted where it goes - the lock, a claim, a name, a meta record, a temp file - with
its target left untouched. Real dirs and files in tmp_path; the other owner is ``nobody``
(the tests run as root, which may chown)."""

import os
import pwd
import stat

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import (
    claims, trust, writes as changes)
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors, names

from unit_helpers import write_job

NOBODY = pwd.getpwnam('nobody').pw_uid
JID = 'j123456789012.4242'

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to give files to nobody')


@pytest.fixture(autouse=True)
def fresh():
    trust.forget()
    yield
    trust.forget()


def make_dir(path, mode, uid=0):
    os.mkdir(str(path))
    os.chmod(str(path), mode)
    os.chown(str(path), uid, -1)
    return str(path)


@pytest.mark.parametrize('mode, uid, why', [
    (0o700, 0, None),
    (0o755, 0, None),
    (0o1777, 0, None),                       # sticky, root's: as /tmp
    (0o1777, NOBODY, 'it belongs to nobody'),  # sticky, but another user's
    (0o777, 0, 'group or others may write in it (and it is not sticky)'),
    (0o770, 0, 'group or others may write in it (and it is not sticky)'),
    (0o700, NOBODY, 'it belongs to nobody'),
])
def test_which_dirs_are_safe(tmp_path, mode, uid, why):
    d = make_dir(tmp_path / 'async', mode, uid)
    if why is None:
        trust.check_async_dir(d)
        return
    with pytest.raises(errors.JobError) as e:
        trust.check_async_dir(d)
    assert why in e.value.msg
    assert e.value.msg.startswith('the async dir %s is not safe to write in: ' % d)
    assert 'mode %04o' % mode in e.value.msg and 'Nothing was written there' in e.value.msg
    assert os.listdir(d) == []


def test_a_dir_we_create_is_0700_and_its_parents_are_checked(tmp_path):
    ok = make_dir(tmp_path / 'mine', 0o755)
    trust.check_async_dir(os.path.join(ok, 'a', 'async'))
    assert stat.S_IMODE(os.stat(os.path.join(ok, 'a', 'async')).st_mode) == 0o700
    bad = make_dir(tmp_path / 'shared', 0o777)
    with pytest.raises(errors.JobError) as e:
        trust.check_async_dir(os.path.join(bad, 'async'))
    assert e.value.msg.startswith('the parent %s is not safe to create the async dir in: ' % bad)
    assert os.listdir(bad) == []


def test_the_foreign_world_writable_dir_stays_empty(tmp_path):
    """The trial of the issue: ansible_async_dir at a 0777 dir of nobody's. A name, a claim,
    a lock, a meta record: each is refused, and nothing appears."""
    d = make_dir(tmp_path / 'async', 0o777, NOBODY)
    for write in (lambda: changes.alias_lock(d, 'x').__enter__(),
                  lambda: claims.claim_name(d, 'x', 'tok', lambda: 1.0),
                  lambda: changes.write_meta(d, JID, 'x', 1.0)):
        with pytest.raises(errors.JobError, match='is not safe to write in'):
            write()
    assert os.listdir(d) == []


def test_a_planted_lock_link_is_never_followed(tmp_path, async_dir):
    """The trial of the issue: a link at .jid_<alias>.lock; its target is never created."""
    target = tmp_path / 'elsewhere'
    os.symlink(str(target), os.path.join(async_dir, '.jid_x.lock'))
    with pytest.raises(errors.JobError) as e:
        changes.alias_lock(async_dir, 'x').__enter__()
    assert 'is a symbolic link' in e.value.msg and 'its target is left alone' in e.value.msg
    assert not os.path.lexists(str(target))


def test_a_planted_link_where_a_record_goes_is_replaced_not_followed(tmp_path, async_dir):
    """A claim, a meta record: written to a new temp file (O_EXCL, O_NOFOLLOW) and renamed
    over the entry, so a link there is replaced, its target untouched."""
    target = tmp_path / 'victim'
    target.write_text('precious')
    os.symlink(str(target), names.claim_path(async_dir, 'x'))
    os.symlink(str(target), names.meta_path(async_dir, JID))
    claims.claim_name(async_dir, 'x', 'tok', lambda: 1.0)
    changes.write_meta(async_dir, JID, 'x', 1.0)
    assert target.read_text() == 'precious'
    assert not os.path.islink(names.claim_path(async_dir, 'x'))
    assert claims.read_claim(async_dir, 'x')['token'] == 'tok'


def test_a_planted_temp_link_is_refused(tmp_path, async_dir, monkeypatch):
    target = tmp_path / 'victim'
    monkeypatch.setattr(changes, 'temp_name', lambda base: '.%s.planted' % base)
    os.symlink(str(target), os.path.join(async_dir, '.%s.planted' % JID))
    write_job(async_dir, JID, {'started': 1, 'finished': 0})
    with pytest.raises(errors.JobError, match='is a symbolic link'):
        changes.atomic_write_json(names.job_path(async_dir, JID), {'killed': True})
    assert not os.path.lexists(str(target))
