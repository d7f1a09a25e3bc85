# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_shared/job_model.py: the states, which are terminal
and which alive, the transitions, a finished job's state from its file, and that the specs
and every module's docs list the states of the model (adding a state fails here until the
docs that list states follow)."""

import ast
import os

import pytest
import yaml

from ansible_collections.asyncjobs.named.plugins.module_utils._shared import job_model as model
from ansible_collections.asyncjobs.named.plugins.module_utils._shared import specs

MODULES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(model.__file__)))), 'modules')


def test_every_state_is_absent_alive_or_terminal_once():
    assert set(model.STATES) == {model.ABSENT} | set(model.ALIVE_STATES) | set(model.FINISHED_STATES)
    assert len(model.STATES) == 1 + len(model.ALIVE_STATES) + len(model.FINISHED_STATES)
    assert model.JOB_STATES == model.ALIVE_STATES + model.FINISHED_STATES


def test_transitions_lead_only_to_states_and_terminal_states_only_to_absent():
    for state, nexts in model.TRANSITIONS.items():
        assert state in model.STATES and set(nexts) <= set(model.STATES)
    assert set(model.TRANSITIONS) == set(model.STATES)
    for state in model.FINISHED_STATES:
        assert model.TRANSITIONS[state] == (model.ABSENT,)


# The job policies: (state, waiting, on_running, on_finished) -> what the start does.
# Not set (None) is today's rule: attach to a running job; a task that waits returns a
# finished job's outcome (a killed job is started again), one that does not starts again.
POLICY_CASES = [
    (model.ABSENT, w, r, f, 'start')
    for w in (True, False) for r in model.ON_RUNNING_CHOICES
    for f in [None] + model.ON_FINISHED_CHOICES
] + [
    (model.RUNNING, w, 'attach', f, 'attach') for w in (True, False)
    for f in [None] + model.ON_FINISHED_CHOICES
] + [
    (model.RUNNING, w, 'fail', f, 'refused') for w in (True, False)
    for f in [None] + model.ON_FINISHED_CHOICES
] + [
    (model.RUNNING, w, 'restart', f, 'restart') for w in (True, False)
    for f in [None] + model.ON_FINISHED_CHOICES
] + [
    (s, w, r, 'return', 'attach') for s in model.FINISHED_STATES for w in (True, False)
    for r in model.ON_RUNNING_CHOICES
] + [
    (s, w, r, 'restart', 'start') for s in model.FINISHED_STATES for w in (True, False)
    for r in model.ON_RUNNING_CHOICES
] + [
    (s, w, r, 'restart_failed', 'attach' if s == model.SUCCEEDED else 'start')
    for s in model.FINISHED_STATES for w in (True, False) for r in model.ON_RUNNING_CHOICES
] + [
    (s, True, r, None, 'start' if s == model.KILLED else 'attach')
    for s in model.FINISHED_STATES for r in model.ON_RUNNING_CHOICES
] + [
    (s, False, r, None, 'start') for s in model.FINISHED_STATES for r in model.ON_RUNNING_CHOICES
]


@pytest.mark.parametrize('state, waiting, on_running, on_finished, action', POLICY_CASES)
def test_policy_action(state, waiting, on_running, on_finished, action):
    assert model.policy_action(state, waiting, on_running, on_finished) == action


def test_policy_cases_cover_every_combination():
    combos = set((s, w, r, f) for s, w, r, f, _a in POLICY_CASES)
    assert len(combos) == len(POLICY_CASES) == len(model.STATES) * 2 * 3 * 4


def test_on_running_default_attaches():
    assert model.policy_action(model.RUNNING, False) == 'attach'


@pytest.mark.parametrize('data, state', [
    ({'rc': 0}, model.SUCCEEDED),
    ({'rc': 1, 'failed': True}, model.FAILED),
    ({'failed': True, 'msg': 'Timeout exceeded', 'child_pid': 1}, model.TIMED_OUT),
    ({'failed': 1, 'finished': 1, 'msg': 'Job reached maximum time limit of 30 seconds.'},
     model.TIMED_OUT),
    ({'failed': True, 'killed': True, 'msg': 'killed'}, model.KILLED),
    ({'failed': True, 'msg': 'Timeout exceeded by far'}, model.FAILED),
])
def test_finished_state(data, state):
    assert model.finished_state(data) == state


def test_the_specs_take_their_choices_from_the_model():
    assert specs.JOBS_INFO_SPEC.argument_spec['state']['choices'] == list(model.JOB_STATES)
    assert specs.PRUNE_SPEC.argument_spec['states']['choices'] == list(model.FINISHED_STATES)


def _returns(name):
    with open(os.path.join(MODULES_DIR, name + '.py')) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == 'RETURN':
            return yaml.safe_load(ast.literal_eval(node.value)) or {}
    return {}


def _state_choices(doc, path=''):
    """(path, choices) of every return value named state, however deep."""
    for key, spec in (doc or {}).items():
        if not isinstance(spec, dict):
            continue
        if key == 'state' and 'choices' in spec:
            yield path + key, spec['choices']
        yield from _state_choices(spec.get('contains'), path + key + '.')


@pytest.mark.parametrize('name', sorted(n[:-3] for n in os.listdir(MODULES_DIR)
                                        if n.endswith('.py') and n != '__init__.py'))
def test_the_modules_document_the_states_of_the_model(name):
    for path, choices in _state_choices(_returns(name)):
        assert choices in (list(model.STATES), list(model.JOB_STATES)), (name, path, choices)
