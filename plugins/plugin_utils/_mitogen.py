# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The job id of an async task started under Mitogen for Ansible, known before the start
(private).

Mitogen's async runner does not run async_wrapper: the controller picks the job id
(``ansible_mitogen.planner._invoke_async_task``: ``'%016x' % random.randint(0, 2**64)``)
and the job's runner, forked on the host, names its job file by it. async_task starts
such a job in several steps (claim, start, name). So that a run whose controller dies
between the start and the naming is followed by a run that finds the job, running *or
finished*, the claim records the id before the start: ``fixed_job_id`` makes Mitogen's
planner pick the id derived from this run's claim token (``mitogen_job_id``), in this
worker process only and only around the start. If Mitogen picks its ids another way
(another version), the start still works: the action names the job by the id the start
returned, and the claim's token in the job's environment is the fallback link.
"""

from __future__ import annotations

import contextlib
import random
import re

MITOGEN_JID_RE = re.compile(r'^[0-9a-f]{16}$')


def mitogen_job_id(token):
    """The job id a start under Mitogen gets, from the claim ``token`` (hex, at least 16
    digits: a uuid4): 16 hex digits, as Mitogen's own ids."""
    jid = token[:16].lower()
    if not MITOGEN_JID_RE.match(jid):
        raise ValueError('a claim token of 16 hex digits or more is needed, not %r' % token)
    return jid


class _FixedRandom:
    """Mitogen's planner's ``random``: its one call for a job id answers ``value``; anything
    else is the random module's."""

    def __init__(self, value):
        self.value = value

    def randint(self, a, b):
        if (a, b) == (0, 2 ** 64):
            return self.value
        return random.randint(a, b)

    def __getattr__(self, name):
        return getattr(random, name)


@contextlib.contextmanager
def fixed_job_id(jid):
    """While in the block, Mitogen's planner gives the next async job the id ``jid``
    (nothing happens when ``jid`` is None, or Mitogen's planner is not loaded)."""
    planner = None
    if jid is not None:
        import sys
        planner = sys.modules.get('ansible_mitogen.planner')
    if planner is None or getattr(planner, 'random', None) is not random:
        yield
        return
    planner.random = _FixedRandom(int(jid, 16))
    try:
        yield
    finally:
        planner.random = random
