# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/plugin_utils/_mitogen.py: the job id of a start under Mitogen for
Ansible, chosen from the claim token, with Mitogen's real planner (mitogen is in .venv)."""

from __future__ import annotations

import random
import sys
import types
import uuid

import pytest

from ansible_collections.asyncjobs.named.plugins.plugin_utils import _mitogen as m


def test_mitogen_job_id():
    token = uuid.uuid4().hex
    assert m.mitogen_job_id(token) == token[:16]
    assert m.mitogen_job_id('ABCDEF0123456789ffff') == 'abcdef0123456789'
    with pytest.raises(ValueError):
        m.mitogen_job_id('short')


def test_the_real_planner_picks_the_fixed_id():
    planner = pytest.importorskip('ansible_mitogen.planner')
    jid = m.mitogen_job_id(uuid.uuid4().hex)
    assert planner.random is random
    with m.fixed_job_id(jid):
        # the expression of ansible_mitogen.planner._invoke_async_task
        assert '%016x' % planner.random.randint(0, 2**64) == jid
        assert 1 <= planner.random.randint(1, 6) <= 6      # any other call is random's
        assert planner.random.random() < 1.0
    assert planner.random is random


def test_restored_after_an_error(monkeypatch):
    planner = types.ModuleType('ansible_mitogen.planner')
    planner.random = random
    monkeypatch.setitem(sys.modules, 'ansible_mitogen.planner', planner)
    with pytest.raises(RuntimeError):
        with m.fixed_job_id('00000000000000ff'):
            assert planner.random.randint(0, 2**64) == 255
            raise RuntimeError('start failed')
    assert planner.random is random


@pytest.mark.parametrize('jid,loaded', [(None, True), ('00000000000000ff', False)])
def test_nothing_happens_without_an_id_or_a_planner(monkeypatch, jid, loaded):
    planner = types.ModuleType('ansible_mitogen.planner')
    planner.random = random
    if loaded:
        monkeypatch.setitem(sys.modules, 'ansible_mitogen.planner', planner)
    else:
        monkeypatch.delitem(sys.modules, 'ansible_mitogen.planner', raising=False)
    with m.fixed_job_id(jid):
        assert planner.random is random
