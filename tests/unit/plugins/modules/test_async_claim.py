# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/modules/async_claim.py: run(params, check_mode), the module
without AnsibleModule (run_module is tested in _host/test_module.py).

The steps of async_task's start in several steps (prepare, bind, abandon), check mode, and
the failures, on a real async dir. The claims themselves are tested in
_host/test_claims.py.
"""

import os
import time

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors, names, specs
from ansible_collections.asyncjobs.named.plugins.module_utils._host import module as module_main
from ansible_collections.asyncjobs.named.plugins.modules import async_claim

from unit_helpers import (claim_of, make_link, module_params, name_of, snapshot, write_claim,
                          write_job)

JID = 'j123456789012.4242'
RUNNING = {'started': 1, 'finished': 0}
SUCCEEDED = {'started': 1, 'finished': 1, 'rc': 0}

JID_FORMS = ('(async_wrapper: optional "j", digits, ".", digits) or "66c6c6863f27278e" '
             '(Mitogen for Ansible: 16 hex digits)')


def params(async_dir, **given):
    return module_params(specs.CLAIM_SPEC, _async_dir=async_dir, **given)


def test_prepare_bind(async_dir):
    result = async_claim.run(params(async_dir, alias='build', token='tokA'), False)
    assert (result['action'], result['changed'], result['status']['state']) == (
        'start', True, 'absent')
    assert claim_of(async_dir, 'build')['token'] == 'tokA'
    write_job(async_dir, JID, RUNNING)  # the job the caller started
    result = async_claim.run(params(async_dir, alias='build', token='tokA', mode='bind', jid=JID),
                             False)
    assert result == dict(bound=True, changed=True, ansible_job_id=JID, ansible_job_alias='build',
                          alias_file=os.path.join(async_dir, 'jid_build'))
    assert name_of(async_dir, 'build') == JID and claim_of(async_dir, 'build') is None


def test_prepare_waiting_attaches_to_a_finished_job(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, 'jid_build', JID)
    result = async_claim.run(params(async_dir, alias='build', token='tokA', waiting=True), False)
    assert (result['action'], result['ansible_job_id'], result['changed']) == ('attach', JID, False)
    assert claim_of(async_dir, 'build') is None


def test_prepare_check_mode_changes_nothing(async_dir):
    before = snapshot(async_dir)
    result = async_claim.run(params(async_dir, alias='build', token='tokA'), True)
    assert (result['action'], result['changed']) == ('start', False)
    assert snapshot(async_dir) == before


def test_prepare_another_runs_fresh_claim(async_dir):
    """hold=0: the claim is reported at once, and stays."""
    write_claim(async_dir, 'build', 'tokB', when=time.time())
    result = async_claim.run(params(async_dir, alias='build', token='tokA'), False)
    assert (result['action'], result['changed']) == ('claimed', False)
    assert claim_of(async_dir, 'build')['token'] == 'tokB'


def test_bind_after_a_takeover_is_not_bound(async_dir):
    write_job(async_dir, JID, RUNNING)
    write_claim(async_dir, 'build', 'tokB')
    result = async_claim.run(params(async_dir, alias='build', token='tokA', mode='bind', jid=JID),
                             False)
    assert (result['bound'], result['changed']) == (False, False)
    assert name_of(async_dir, 'build') is None


@pytest.mark.parametrize('token, abandoned', [('tokA', True), ('tokB', False)])
def test_abandon(async_dir, token, abandoned):
    write_claim(async_dir, 'build', 'tokA')
    result = async_claim.run(params(async_dir, alias='build', token=token, mode='abandon'), False)
    assert result == dict(abandoned=abandoned, changed=abandoned)
    assert (claim_of(async_dir, 'build') is None) is abandoned


def checked_run(module, params, check_mode):
    """What run_module does on the host before the module's run: the one check of the job
    name and id (_host.module.checked_names), then run."""
    names.validate(**module_main.checked_names(specs.CLAIM_SPEC, params))
    return module.run(params, check_mode)


@pytest.mark.parametrize('given, msg', [
    (dict(mode='bind'), 'mode=bind needs jid'),
    (dict(mode='bind', jid=JID), "job %s has no state file {d}/%s in this host's async dir; is "
                                 'it an async job of this host and user?' % (JID, JID)),
    (dict(alias='-x/'), 'invalid alias \'-x/\': use only letters, digits, "_", "-" and ".", not '
                        'starting with ".", at most 128 characters'),
    (dict(jid='x'), 'invalid jid \'x\': a job id looks like "j123456789012.4242" ' + JID_FORMS),
])
def test_failures(async_dir, given, msg):
    with pytest.raises(errors.JobError) as exc:
        checked_run(async_claim, params(async_dir, **dict(dict(alias='build', token='tokA'), **given)),
                    False)
    assert exc.value.msg == msg.format(d=async_dir)
    assert name_of(async_dir, 'build') is None
