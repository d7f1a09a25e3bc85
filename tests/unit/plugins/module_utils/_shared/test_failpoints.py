# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_shared/failpoints.py: parsing the switch, a point that
is off (nothing happens), a point that is on (it reports, then waits for the test to let
it go, once per process)."""

import json
import os
import threading
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import failpoints as fp


@pytest.fixture(autouse=True)
def disarmed():
    fp.arm(None)
    yield
    fp.arm(None)


@pytest.mark.parametrize('spec,parsed', [
    ('/t/fp:after-claim', dict(dir='/t/fp', points=['after-claim'])),
    ('/t/a:b:after-wrapper,before-naming,after-wrapper',
     dict(dir='/t/a:b', points=['after-wrapper', 'before-naming'])),
    (dict(dir='/t', points=['in-wait-slice']), dict(dir='/t', points=['in-wait-slice'])),
])
def test_parse(spec, parsed):
    assert fp.parse(spec) == parsed


@pytest.mark.parametrize('spec,why', [
    ('relative:after-claim', 'needs an absolute directory'),
    ('/t:', 'names no point'),
    ('/t:after-claim,nowhere', 'unknown point(s) nowhere; known: after-claim, after-wrapper'),
    (dict(dir='/t', points='after-claim'), 'names no point'),
    (dict(points=['after-claim']), 'needs an absolute directory'),
])
def test_parse_refuses(spec, why):
    with pytest.raises(ValueError) as e:
        fp.parse(spec)
    assert why in str(e.value)


def test_from_environ():
    assert fp.from_environ({}) is None
    assert fp.from_environ({fp.FAILPOINTS_ENV: '/t:before-status'}) == dict(
        dir='/t', points=['before-status'])


def test_off_points_do_nothing(tmp_path):
    fp.failpoint('after-claim', prefix='j1')
    fp.arm(dict(dir=str(tmp_path), points=['after-wrapper']))
    fp.failpoint('after-claim', prefix='j1')
    assert os.listdir(str(tmp_path)) == []
    assert fp.armed()


def test_a_point_reports_then_waits_for_go(tmp_path):
    fp.arm('%s:after-wrapper' % tmp_path)
    reached = tmp_path / 'after-wrapper.reached'
    seen = {}

    def test_side():
        while not reached.exists():
            time.sleep(0.01)
        seen.update(json.loads(reached.read_text()))
        time.sleep(0.2)
        (tmp_path / 'after-wrapper.go').touch()

    helper = threading.Thread(target=test_side)
    helper.start()
    began = time.time()
    fp.failpoint('after-wrapper', prefix='j42')
    helper.join()
    assert time.time() - began >= 0.2
    assert (seen['point'], seen['prefix'], seen['pid'], seen['ppid']) == (
        'after-wrapper', 'j42', os.getpid(), os.getppid())
    # once per process: it does not pause again
    reached.unlink()
    fp.failpoint('after-wrapper', prefix='j42')
    assert not reached.exists()
    assert sorted(os.listdir(str(tmp_path))) == ['after-wrapper.go']
