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
# What a start that waits does with the name's job in each state (async_claims.decide):
# attach to a running job, return a finished job's outcome, start again where there is no
# job or it was killed.
START_AGAIN_STATES = (ABSENT, KILLED)

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
