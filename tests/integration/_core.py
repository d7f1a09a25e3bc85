# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the ansible-core under test changes in task results, by version.

pytest runs inside the venv of the ansible-core under test (make matrix runs each core's
venv), and the playbooks run with that venv's ansible-playbook: its version is this one.
"""

from ansible.release import __version__

CORE = tuple(int(part) for part in __version__.split('.')[:2])

# ansible-core 2.21 holds these result keys in typed fields of its task result and drops
# one whose value is null: ``ansible_job_id: null`` (no job) arrives without the key.
DROPPED_WHEN_NULL = frozenset(('ansible_job_id', 'finished', 'msg', 'rc')
                              if CORE >= (2, 21) else ())

# ansible.builtin.command's msg for a non-zero rc (async_command returns the same text).
NON_ZERO_RC_MSG = ('The command exited with a non-zero return code.' if CORE >= (2, 21)
                   else 'non-zero return code')


def has_key(result, key):
    """``key`` is in ``result``, or this core drops it when null."""
    return key in result or key in DROPPED_WHEN_NULL


def no_job_id(result):
    """``result`` names no job: ``ansible_job_id`` is null (absent where the core drops
    a null one)."""
    if 'ansible_job_id' not in result:
        return 'ansible_job_id' in DROPPED_WHEN_NULL
    return result['ansible_job_id'] is None
