# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_shared/entries.py: what each entry of the async dir is,
by its name (entry_kind), and the temp files of atomic writes (temp_name, temp_base)."""

import os
import re

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import entries


# --- temp_name, temp_base ------------------------------------------------------------------------

def test_temp_name(async_dir):
    temps = set(entries.temp_name('jid_x') for dummy in range(50))
    assert len(temps) == 50
    for name in temps:
        assert re.match(r'^\.jid_x\.[0-9a-f]{12}\.tmp$', name)
        assert entries.temp_base(name) == 'jid_x'
        # never taken for an alias of either form, nor for a job id
        assert entries.entry_kind(name) == ('temp', 'jid_x')


@pytest.mark.parametrize('name,kind', [
    ('j123.456', ('job', 'j123.456')),
    ('123.456', ('job', '123.456')),
    ('jid_build', ('name', 'build')),
    ('jid_a.b-c_d', ('name', 'a.b-c_d')),
    ('j1.2.jid_old', ('legacy_name', ('j1.2', 'old'))),
    ('.jid_build.lock', ('lock', 'build')),
    ('.jid_build.claim', ('claim', 'build')),
    ('.j1.2.meta', ('meta', 'j1.2')),
    ('j1.2.tmp', ('temp', 'j1.2')),
    ('.j1.2.0123456789ab.tmp', ('temp', 'j1.2')),
    ('.jid_x.0123456789ab.tmp', ('temp', 'jid_x')),
    # neither ours nor native async's
    ('notes.txt', (None, None)),
    ('jid_', (None, None)),
    ('jid_.hidden', (None, None)),
    ('jid_../x', (None, None)),
    ('.jid_.lock', (None, None)),
    ('.notajob.meta', (None, None)),
    ('.x.lock', (None, None)),
    ('j1', (None, None)),
    ('x.tmp', (None, None)),
    ('.j1.2.xyz.tmp', (None, None)),
    ('.output-0123abcd.log', ('output', '0123abcd')),
])
def test_entry_kind(name, kind):
    assert entries.entry_kind(name) == kind


# --- output logs: names ------------------------------------------------------------------------------------

def test_log_name_and_path(tmp_path):
    token = 'a' * 32
    assert entries.output_log_name(token) == '.output-%s.log' % token
    assert entries.output_log_path(str(tmp_path), 'j123456789012') == os.path.join(
        str(tmp_path), '.output-j123456789012.log')


@pytest.mark.parametrize('token', ['', 'a' * 65, 'a.b', 'a/b', '../x', 'x y', None, 12])
def test_log_name_refuses_a_bad_token(token):
    with pytest.raises(ValueError, match='invalid output log token'):
        entries.output_log_name(token)


@pytest.mark.parametrize('name, token', [
    ('.output-0123abcd.log', '0123abcd'),
    ('.output-j123456789012.log', 'j123456789012'),
    ('.output-%s.log' % ('f' * 64), 'f' * 64),
    ('.output-.log', None),
    ('output-0123abcd.log', None),
    ('.output-0123abcd.log.tmp', None),
    ('..output-0123abcd.log.0123456789ab.tmp', None),   # the temp file of a cut
    ('.output-01.23.log', None),
    ('.output-0123abcd.log\n', None),
    ('.output-%s.log' % ('f' * 65), None),
    ('j123456789012.4242', None),
    ('jid_build', None),
])
def test_log_name_recognised(name, token):
    assert entries.output_log_token(name) == token
    assert entries.is_output_log(name) is (token is not None)


def test_temp_file_of_a_cut_is_named_as_every_atomic_write():
    """The clean-up that removes temp files of interrupted atomic writes finds a cut's."""
    tmp = entries.temp_name('.output-0123abcd.log')
    assert entries.temp_base(tmp) == '.output-0123abcd.log'
    assert entries.is_output_log(entries.temp_base(tmp))


@pytest.mark.parametrize('meta, log', [
    (dict(output='.output-tok.log'), '.output-tok.log'),
    (dict(output='.output-tok.log', started=1.0, what='shell: make'), '.output-tok.log'),
    (dict(output=None), None),
    (dict(), None),
    (None, None),
    ([1, 2], None),
    (dict(output=5), None),
    # whatever is not an output log's name never leads anywhere
    (dict(output='../.output-tok.log'), None),
    (dict(output='/etc/passwd'), None),
    (dict(output='j1.1'), None),
    (dict(output='.output-tok.log/..'), None),
])
def test_meta_output_log(tmp_path, meta, log):
    expected = os.path.join(str(tmp_path), log) if log else None
    assert entries.meta_output_log(str(tmp_path), meta) == expected
