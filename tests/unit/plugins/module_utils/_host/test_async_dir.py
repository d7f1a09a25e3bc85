# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_host/async_dir.py: reading the async dir - inside_dir,
link_target, legacy_alias_links, find_alias - on real directories and links under tmp_path;
errors other than a missing name are raised, never taken for an absent name."""

import os

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._host import async_dir as adir
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors

from unit_helpers import RUNNING_INT, unprivileged, write_job


def outside_msg(alias, async_dir, target):
    return ('alias %r points outside the async dir %s (to %s); refusing to use it'
            % (alias, async_dir, target))


@pytest.mark.parametrize('async_dir, path, expected', [
    ('/a/b', '/a/b/x', True),
    ('/a/b', '/a/b/j1.2', True),
    ('/a/b/', '/a/b/x', True),
    ('/a/b', '/a/b/./x', True),
    ('/a/b', '/a/b/c/../x', True),
    ('/a/b/../b', '/a/b/x', True),
    ('/a/b', '/a/b/c/x', False),
    ('/a/b', '/a/bx/y', False),
    ('/a/b', '/a/x', False),
    ('/a/b', '/a/b', False),
    ('/a/b', '/a/b/..', False),
    ('/a/b', '/a/b/../x', False),
    ('/a/b', '/etc/passwd', False),
])
def test_inside_dir_lexical(async_dir, path, expected):
    # none of these paths exist: the lexical comparison decides, realpath agrees
    assert adir.inside_dir(async_dir, path) is expected


def test_inside_dir_through_symlinked_async_dir(linked_async, tmp_path):
    real, link = linked_async
    assert adir.inside_dir(link, os.path.join(real, 'j1.2'))
    assert adir.inside_dir(real, os.path.join(link, 'j1.2'))
    assert adir.inside_dir(link, os.path.join(link, 'j1.2'))
    assert not adir.inside_dir(link, str(tmp_path / 'data' / 'j1.2'))
    assert not adir.inside_dir(link, os.path.join(real, 'sub', 'j1.2'))


def test_inside_dir_through_symlinked_parent_of_path(tmp_path, async_dir):
    # a path spelled through another link to the async dir is still inside it
    other = tmp_path / 'other'
    other.symlink_to(async_dir)
    assert adir.inside_dir(async_dir, str(other / 'j1.2'))


def test_inside_dir_symlink_pointing_elsewhere(tmp_path, async_dir, outside):
    # ``async/sub -> outside``: ``async/sub/x`` is not directly inside the async dir
    os.symlink(outside, os.path.join(async_dir, 'sub'))
    assert not adir.inside_dir(async_dir, os.path.join(async_dir, 'sub', 'x'))


# --- link_target ---------------------------------------------------------------------------------

def test_link_target_missing(async_dir):
    assert adir.link_target(async_dir, os.path.join(async_dir, 'jid_nope')) is None


def test_link_target_missing_async_dir(tmp_path):
    d = str(tmp_path / 'nope')
    assert adir.link_target(d, os.path.join(d, 'jid_x')) is None


def test_link_target_regular_file(async_dir):
    path = write_job(async_dir, 'jid_x', '{}')
    assert adir.link_target(async_dir, path) is None


def test_link_target_through_a_file(async_dir):
    write_job(async_dir, 'file', '{}')
    assert adir.link_target(async_dir, os.path.join(async_dir, 'file', 'jid_x')) is None


@pytest.mark.parametrize('target, expected', [
    ('j1.2', '{d}/j1.2'),
    ('./j1.2', '{d}/j1.2'),
    ('sub/../j1.2', '{d}/j1.2'),
    ('../async/j1.2', '{d}/j1.2'),
    ('../outside/j1.2', '{p}/outside/j1.2'),
    ('{d}/j1.2', '{d}/j1.2'),
    ('{d}//./j1.2', '{d}/j1.2'),
    ('/etc/passwd', '/etc/passwd'),
])
def test_link_target(async_dir, target, expected):
    fmt = dict(d=async_dir, p=os.path.dirname(async_dir))
    link = os.path.join(async_dir, 'jid_x')
    os.symlink(target.format(**fmt), link)  # dangling links are fine: nothing is followed
    assert adir.link_target(async_dir, link) == expected.format(**fmt)


# --- legacy_alias_links --------------------------------------------------------------------------

def test_legacy_alias_links(async_dir):
    for name in ('j1.2.jid_x', '3.4.jid_x', 'j9.9.jid_x'):
        os.symlink('j1.2', os.path.join(async_dir, name))
    for name in ('jid_x',           # primary form: not legacy
                 'j1.2.jid_xy',     # another alias
                 'j1.2.jid_y',      # another alias
                 'foo.jid_x',       # not a jid
                 'j1.2.jid_y.jid_x',  # not a jid before the suffix
                 'j1.jid_x',        # not a jid
                 ):
        os.symlink('j1.2', os.path.join(async_dir, name))
    write_job(async_dir, 'j5.6.jid_x', '{}')  # a regular file is listed too (no readlink here)
    assert adir.legacy_alias_links(async_dir, 'x') == [
        os.path.join(async_dir, n) for n in ('3.4.jid_x', 'j1.2.jid_x', 'j5.6.jid_x', 'j9.9.jid_x')]


def test_legacy_alias_links_missing_dir(tmp_path):
    assert adir.legacy_alias_links(str(tmp_path / 'nope'), 'x') == []


def test_legacy_alias_links_empty_dir(async_dir):
    assert adir.legacy_alias_links(async_dir, 'x') == []


# --- find_alias ----------------------------------------------------------------------------------

def test_find_alias_absent(async_dir):
    assert adir.find_alias(async_dir, 'x') == (None, None)


def test_find_alias_missing_async_dir(tmp_path):
    assert adir.find_alias(str(tmp_path / 'nope'), 'x') == (None, None)


def test_find_alias_ignores_regular_file(async_dir):
    write_job(async_dir, 'jid_x', '{}')
    assert adir.find_alias(async_dir, 'x') == (None, None)


@pytest.mark.parametrize('absolute', [False, True], ids=['relative', 'absolute'])
@pytest.mark.parametrize('exists', [True, False], ids=['job', 'dangling'])
def test_find_alias_primary(async_dir, absolute, exists):
    job = os.path.join(async_dir, 'j1.2')
    if exists:
        write_job(async_dir, 'j1.2', RUNNING_INT)
    link = os.path.join(async_dir, 'jid_x')
    os.symlink(job if absolute else 'j1.2', link)
    assert adir.find_alias(async_dir, 'x') == (link, job)


def test_find_alias_legacy(async_dir):
    write_job(async_dir, 'j1.2', RUNNING_INT)
    link = os.path.join(async_dir, 'j1.2.jid_x')
    os.symlink('j1.2', link)
    assert adir.find_alias(async_dir, 'x') == (link, os.path.join(async_dir, 'j1.2'))


def test_find_alias_primary_wins_over_legacy(async_dir):
    os.symlink('j1.1', os.path.join(async_dir, 'j1.1.jid_x'))
    os.symlink('j2.2', os.path.join(async_dir, 'jid_x'))
    assert adir.find_alias(async_dir, 'x') == (os.path.join(async_dir, 'jid_x'),
                                               os.path.join(async_dir, 'j2.2'))


def test_find_alias_legacy_first_link_in_order(async_dir):
    # a regular file with the legacy name is skipped, then the first link by name wins
    write_job(async_dir, 'j0.0.jid_x', '{}')
    os.symlink('j3.3', os.path.join(async_dir, 'j3.3.jid_x'))
    os.symlink('j2.2', os.path.join(async_dir, 'j2.2.jid_x'))
    assert adir.find_alias(async_dir, 'x') == (os.path.join(async_dir, 'j2.2.jid_x'),
                                               os.path.join(async_dir, 'j2.2'))


def test_find_alias_does_not_match_other_aliases(async_dir):
    os.symlink('j1.1', os.path.join(async_dir, 'jid_xy'))
    os.symlink('j1.1', os.path.join(async_dir, 'j1.1.jid_xy'))
    os.symlink('j1.1', os.path.join(async_dir, 'j1.1.jid_y'))
    assert adir.find_alias(async_dir, 'x') == (None, None)


@pytest.mark.parametrize('name', ['jid_x', 'j1.2.jid_x'], ids=['primary', 'legacy'])
@pytest.mark.parametrize('target', [
    '../outside/j1.2',
    '{o}/j1.2',
    '/etc/passwd',
    'sub/j1.2',
    '..',
    '.',
])
def test_find_alias_outside(async_dir, outside, name, target):
    write_job(outside, 'j1.2', RUNNING_INT)
    os.mkdir(os.path.join(async_dir, 'sub'))
    target = target.format(o=outside)
    os.symlink(target, os.path.join(async_dir, name))
    with pytest.raises(errors.JobError) as exc:
        adir.find_alias(async_dir, 'x')
    resolved = os.path.normpath(os.path.join(async_dir, target))
    assert exc.value.msg == outside_msg('x', async_dir, resolved)
    assert exc.value.result == {'ansible_job_alias': 'x'}


@pytest.mark.parametrize('spelling', ['relative', 'via_link', 'via_real'])
def test_find_alias_through_symlinked_async_dir(linked_async, spelling):
    real, link = linked_async
    write_job(real, 'j1.2', RUNNING_INT)
    target = {'relative': 'j1.2', 'via_link': os.path.join(link, 'j1.2'),
              'via_real': os.path.join(real, 'j1.2')}[spelling]
    os.symlink(target, os.path.join(real, 'jid_x'))
    found_link, job_file = adir.find_alias(link, 'x')
    assert found_link == os.path.join(link, 'jid_x')
    assert job_file == (os.path.join(real, 'j1.2') if spelling == 'via_real'
                        else os.path.join(link, 'j1.2'))


@pytest.mark.parametrize('target', ['jid_other', 'notes.txt', '.jid_x.claim'])
def test_find_alias_to_non_job_file_is_refused(async_dir, target):
    # A name chained to another name (or to any file whose name is not a job id) would
    # take that file's name for the jid; it is refused instead.
    os.symlink(target, os.path.join(async_dir, 'jid_x'))
    with pytest.raises(errors.JobError) as e:
        adir.find_alias(async_dir, 'x')
    assert e.value.msg == ("alias 'x' points to %s, which is not a job file (its name is not a "
                           "job id); refusing to use it" % os.path.join(async_dir, target))
    assert os.path.islink(os.path.join(async_dir, 'jid_x'))


# --- errors other than "missing" are raised, not taken for an absent name ------------------------
# (the same for links_to: _host/test_writes.py)

def test_async_dir_is_a_file(tmp_path):
    not_a_dir = tmp_path / 'file'
    not_a_dir.write_text('')
    d = str(not_a_dir)
    assert adir.link_target(d, os.path.join(d, 'jid_x')) is None  # ENOTDIR: no such link
    with pytest.raises(OSError):
        adir.legacy_alias_links(d, 'x')
    with pytest.raises(OSError):
        adir.find_alias(d, 'x')


def test_unsearchable_async_dir_is_an_error(world_readable_tmp):
    d = os.path.join(world_readable_tmp, 'async')
    os.mkdir(d)
    os.symlink('j1.2', os.path.join(d, 'jid_x'))
    os.chmod(d, 0)  # another user's async dir: not even readlink works
    try:
        with unprivileged():
            with pytest.raises(OSError):
                adir.link_target(d, os.path.join(d, 'jid_x'))
            with pytest.raises(OSError):
                adir.find_alias(d, 'x')
    finally:
        os.chmod(d, 0o755)
