# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/modules/async_alias.py: run(params, check_mode), the module
without AnsibleModule (run_module is tested in _host/test_module.py).

Naming a job, in check mode too, and the failures, on real job files in a real async dir.
"""

import os

import pytest

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import errors, names, specs
from ansible_collections.asyncjobs.named.plugins.module_utils._host import module as module_main
from ansible_collections.asyncjobs.named.plugins.modules import async_alias

from unit_helpers import make_link, module_params, name_of, needs_proc, write_job

JID = 'j123456789012.4242'
OLD = 'j999999999999.77'
SUCCEEDED = {'started': 1, 'finished': 1, 'rc': 0}


def params(async_dir, **given):
    return module_params(specs.ALIAS_SPEC, _async_dir=async_dir, **given)


@pytest.mark.parametrize('check_mode', [False, True])
def test_names_the_job(async_dir, check_mode):
    write_job(async_dir, JID, SUCCEEDED)
    result = async_alias.run(params(async_dir, alias='build', jid=JID), check_mode)
    assert result == dict(changed=True, ansible_job_id=JID, ansible_job_alias='build',
                          results_file=os.path.join(async_dir, JID),
                          alias_file=os.path.join(async_dir, 'jid_build'))
    assert name_of(async_dir, 'build') == (None if check_mode else JID)


def test_takes_a_finished_jobs_name(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, OLD, SUCCEEDED)
    make_link(async_dir, 'jid_build', OLD)
    result = async_alias.run(params(async_dir, alias='build', jid=JID), False)
    assert (result['changed'], result['previous_job_id']) == (True, OLD)
    assert name_of(async_dir, 'build') == JID


def test_same_name_again_is_no_change(async_dir):
    write_job(async_dir, JID, SUCCEEDED)
    make_link(async_dir, 'jid_build', JID)
    assert async_alias.run(params(async_dir, alias='build', jid=JID), False)['changed'] is False


def checked_run(module, params, check_mode):
    """What run_module does on the host before the module's run: the one check of the job
    name and id (_host.module.checked_names), then run."""
    names.validate(**module_main.checked_names(specs.ALIAS_SPEC, params))
    return module.run(params, check_mode)


@pytest.mark.parametrize('given, msg', [
    (dict(alias='build', job={'ansible_job_id': JID}),
     'jid is required when the module runs without its action plugin (the action turns job '
     'into jid)'),
    (dict(alias='.hidden', jid=JID), 'invalid alias \'.hidden\': use only letters, digits, "_", '
                                     '"-" and ".", not starting with ".", at most 128 characters'),
    (dict(alias='build', jid='j1'), 'invalid jid \'j1\': a job id looks like '
                                    '"j123456789012.4242" (async_wrapper: optional "j", '
                                    'digits, ".", digits) or "66c6c6863f27278e" (Mitogen for '
                                    'Ansible: 16 hex digits)'),
    (dict(alias='build', jid=OLD), "job %s has no state file %s in this host's async dir; is it "
                                   'an async job of this host and user?' % (OLD, '{d}/' + OLD)),
])
def test_failures(async_dir, given, msg):
    write_job(async_dir, JID, SUCCEEDED)
    with pytest.raises(errors.JobError) as exc:
        checked_run(async_alias, params(async_dir, **given), False)
    assert exc.value.msg == msg.replace('{d}', async_dir)
    assert name_of(async_dir, 'build') is None


@needs_proc
def test_running_holder_refused(async_dir, fake_wrapper):
    write_job(async_dir, JID, SUCCEEDED)
    write_job(async_dir, fake_wrapper.jid, {'started': 1, 'finished': 0})
    make_link(async_dir, 'jid_build', fake_wrapper.jid)
    with pytest.raises(errors.JobError) as exc:
        async_alias.run(params(async_dir, alias='build', jid=JID), False)
    assert exc.value.msg.startswith("alias 'build' is held by running job %s" % fake_wrapper.jid)
    # force takes it
    result = async_alias.run(params(async_dir, alias='build', jid=JID, force=True), False)
    assert result['previous_job_id'] == fake_wrapper.jid
    assert name_of(async_dir, 'build') == JID
