# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the action plugins' own logic (plugins/action/, plugins/plugin_utils/
_action.py's AsyncJobsAction): what the controller decides between its module runs. The
module runs themselves are recorded, not made (``Steps``): the decisions are what is tested
here; the modules are tested on the host side and end to end in tests/integration.

async_task's start in steps (where the one-step start is not possible): a claim whose step
failed is given up; a naming that failed records the job in the claim and says so, with the
job's id; the wait slices of AsyncJobsAction: the budget, what each slice asks the host.
"""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleActionFail

from ansible_collections.asyncjobs.named.plugins.action.async_task import ActionModule as TaskAction
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import failpoints
from ansible_collections.asyncjobs.named.plugins.plugin_utils._action import AsyncJobsAction

JID = 'j123456789012.4242'


class Steps:
    """Stands for the host: each module run is recorded, and answered by ``answers``
    ({(module, mode): result or exception})."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, name, module_args, task_vars, result=None):
        self.calls.append((name, dict(module_args)))
        answer = self.answers.get((name, module_args.get('mode')), self.answers.get(name))
        if isinstance(answer, Exception):
            raise answer
        return dict(answer or {})


def task_action(steps, no_log=False):
    action = TaskAction.__new__(TaskAction)
    action.run_module = steps
    action._task = type('Task', (), dict(no_log=no_log, check_mode=False, async_val=0,
                                         environment=[]))()
    action._connection = type('Connection', (), {})()
    return action


def test_a_claim_whose_step_failed_is_given_up(monkeypatch):
    """The claim may have been written before its module died: the run gives it up (abandon),
    so that the next run does not wait 60 s for it, and fails."""
    steps = Steps({('async_claim', 'prepare'): AnsibleActionFail('MODULE FAILURE'),
                   ('async_claim', 'abandon'): dict(abandoned=True)})
    action = task_action(steps)
    monkeypatch.setattr(TaskAction, 'async_dir', lambda self: '~/.ansible_async')
    with pytest.raises(AnsibleActionFail, match='MODULE FAILURE'):
        action._start_in_steps(dict(alias='build', module=None), dict(module=None, output=None),
                               'tok', False, 0, {})
    assert [(n, a.get('mode')) for n, a in steps.calls] == [
        ('async_claim', 'prepare'), ('async_claim', 'abandon')]


@pytest.mark.parametrize('abandon, kept', [
    (dict(abandoned=True, recorded=JID), 'The claim records the job: the next run names it and '
     'attaches to it.'),
    (AnsibleActionFail('unreachable'), 'The claim could not be updated: the next run finds the '
                                       'job by the claim token in its environment while it runs.'),
])
def test_a_naming_that_failed_says_what_became_of_the_job(abandon, kept):
    steps = Steps({('async_claim', 'bind'): AnsibleActionFail('jid_build is a directory'),
                   ('async_claim', 'abandon'): abandon})
    action = task_action(steps)
    with pytest.raises(AnsibleActionFail) as failed:
        action._bind('build', 'tok', JID, {}, what='shell: x', output=None)
    assert str(failed.value).startswith("job %s was started, but naming it 'build' failed: "
                                        'jid_build is a directory. ' % JID)
    assert kept in str(failed.value)
    assert failed.value.result['ansible_job_id'] == JID
    assert steps.calls[-1] == ('async_claim', dict(alias='build', token='tok', mode='abandon',
                                                   jid=JID))


# --- AsyncJobsAction: failpoints and wait slices ------------------------------------------------

class Recording(AsyncJobsAction):
    def __init__(self, slices):
        self.slices = list(slices)
        self.asked = []
        self._task = type('Task', (), dict(no_log=True, check_mode=False))()

    def run(self, tmp=None, task_vars=None):
        return {}


def test_failpoints_go_to_the_host_only_when_a_test_switched_them_on(monkeypatch):
    sent = []
    action = Recording([])
    monkeypatch.setattr(AsyncJobsAction, 'async_dir', lambda self: '/a')
    action._execute_module = lambda module_name, module_args, task_vars: sent.append(
        (module_name, module_args)) or {}
    monkeypatch.delenv(failpoints.FAILPOINTS_ENV, raising=False)
    action.run_module('async_status_id', dict(jid=JID, alias=None), {})
    monkeypatch.setenv(failpoints.FAILPOINTS_ENV, '/tmp/fp:in-wait-slice')
    action.run_module('async_status_id', dict(jid=JID), {})
    failpoints.arm(None)
    assert sent == [
        ('asyncjobs.named.async_status_id', dict(jid=JID, _async_dir='/a')),
        ('asyncjobs.named.async_status_id', dict(jid=JID, _async_dir='/a', _failpoints=dict(
            dir='/tmp/fp', points=['in-wait-slice'])))]


def running(seconds):
    return dict(ansible_job_id=JID, state='running', running_for=seconds)


def test_the_wait_asks_for_slices_until_the_budget_is_spent(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr('time.time', lambda: now[0])
    action = Recording([])
    asked = []

    def one_slice(refs, seconds):  # the host waits that long, the job still running
        asked.append(seconds)
        now[0] += seconds
        return [running(seconds)]
    done = action._wait_slices({}, 40.0, [dict(jid=JID)], one_slice)
    assert asked == [15.0, 15.0, 10.0]
    assert done[0]['failed'] is True and done[0]['msg'] == 'Ran out of attempts.'


def test_a_slice_that_failed_ends_the_wait_with_its_result():
    action = Recording([])
    failed = dict(failed=True, msg="no job named 'x'")
    assert action._wait_slices({}, None, [dict(alias='x')], lambda refs, s: failed) is failed
