# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_async_entries.py: what each entry of the async dir is,
by its name (entry_kind), and the temp files of atomic writes (temp_name, temp_base)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils import _async_entries as entries


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
])
def test_entry_kind(name, kind):
    assert entries.entry_kind(name) == kind
