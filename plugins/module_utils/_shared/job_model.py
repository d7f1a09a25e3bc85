# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The job model: the states of a job, which of them are terminal and which mean alive, how
a finished job's file gives its state, and the transitions that the collection's modules
make. The argument specs (``_shared.specs``) and, through a unit test, the modules' docs
derive their choices of states from here: adding a state is a change to this file, its
tests (tests/unit/plugins/module_utils/_shared/test_job_model.py) and the docs that list
states (docs/docsite/rst/guide_states.rst).

Private to the collection. Runs on the target too: Python 3.6 compatible.
"""

import re

ABSENT = 'absent'        # no such name, or its job file is gone
RUNNING = 'running'      # started, not finished, its runner alive
SUCCEEDED = 'succeeded'  # finished by its own result
FAILED = 'failed'        # finished by its own result, failed
TIMED_OUT = 'timed_out'  # stopped by its runner at the async time limit
KILLED = 'killed'        # stopped by async_kill (or anything that wrote killed into its file)
ORPHANED = 'orphaned'    # never finished, and its runner is gone

STATES = (ABSENT, RUNNING, SUCCEEDED, FAILED, TIMED_OUT, KILLED, ORPHANED)
# Terminal: a job in one of these never changes state again.
FINISHED_STATES = (SUCCEEDED, FAILED, TIMED_OUT, KILLED, ORPHANED)
# Alive: its processes may still run and write its file.
ALIVE_STATES = (RUNNING,)

# The transitions the collection's modules (and a job's runner) make, for the docs and tests.
TRANSITIONS = {
    ABSENT: (RUNNING,),                                  # async_task starts a job
    RUNNING: (SUCCEEDED, FAILED, TIMED_OUT, KILLED, ORPHANED),
    SUCCEEDED: (ABSENT,), FAILED: (ABSENT,), TIMED_OUT: (ABSENT,),  # clean-up, prune
    KILLED: (ABSENT,), ORPHANED: (ABSENT,),
}

# The states of a job that exists: what a status of one can say.
JOB_STATES = ALIVE_STATES + FINISHED_STATES

# The choices of the options that take states: async_jobs_info's state (a job that exists),
# async_prune's states (finished); the modules' RETURN lists STATES (a unit test checks).
STATE_CHOICES = list(STATES)
JOB_STATE_CHOICES = list(JOB_STATES)
FINISHED_CHOICES = list(FINISHED_STATES)

# Job policies: what async_task does when the name leads to a job (``policy_action``).
# on_running: attach to the running job, fail (start nothing), or restart it (kill it, then
# start a new job, all under the name's lock).
ATTACH, FAIL, RESTART = 'attach', 'fail', 'restart'
ON_RUNNING_CHOICES = [ATTACH, FAIL, RESTART]
# on_finished: return the finished job's outcome, start again, or start again only when it
# did not succeed (failed, timed out, killed, orphaned). Not set: the rule of
# ``default_on_finished``.
RETURN, RESTART_FAILED = 'return', 'restart_failed'
ON_FINISHED_CHOICES = [RETURN, RESTART, RESTART_FAILED]

# What ``policy_action`` tells the start to do.
DO_ATTACH, DO_START, DO_REFUSE, DO_RESTART = 'attach', 'start', 'refused', 'restart'


def default_on_finished(state, waiting):
    """The policy for a finished job when ``on_finished`` is not set: a task that waits
    returns the outcome (a controller that died while waiting must not cause a second run),
    but a killed job is started again; a task that does not wait starts a new job."""
    return RETURN if waiting and state != KILLED else RESTART


def policy_action(state, waiting, on_running=ATTACH, on_finished=None):
    """What a start does with the job that its name leads to, in ``state``: ``attach``
    (return that job: running, or its outcome), ``start`` (a new job; the name is freed),
    ``refused`` (fail, starting nothing) or ``restart`` (kill the running job, then start a
    new one). ``waiting``: whether the task waits (has a wait budget)."""
    if state == ABSENT:
        return DO_START
    if state in ALIVE_STATES:
        return {ATTACH: DO_ATTACH, FAIL: DO_REFUSE, RESTART: DO_RESTART}[on_running or ATTACH]
    policy = on_finished or default_on_finished(state, waiting)
    if policy == RETURN or (policy == RESTART_FAILED and state == SUCCEEDED):
        return DO_ATTACH
    return DO_START


# What the runners write when they stop a job at its time limit.
TIMEOUT_MSG = 'Timeout exceeded'   # async_wrapper
MITOGEN_TIMEOUT_RE = re.compile(r'^Job reached maximum time limit of [0-9]+ seconds\.\Z')


def finished_state(data):
    """The state of a finished job from its file's content (a dict)."""
    if data.get('killed'):
        return KILLED
    msg = data.get('msg')
    if data.get('failed') and (msg == TIMEOUT_MSG or (isinstance(msg, str)
                                                      and MITOGEN_TIMEOUT_RE.match(msg))):
        return TIMED_OUT
    if data.get('failed'):
        return FAILED
    return SUCCEEDED
