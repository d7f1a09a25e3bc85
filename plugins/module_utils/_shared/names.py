# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Job names (aliases) and job ids: their rules, their validation, and the paths of the
entries of the async dir named by them (a job file, a name's link, lock and claim, a job's
meta record). Pure: no I/O.

Private to the collection. Runs on the target too: Python 3.6 compatible.
"""

import os
import re

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.errors import JobError

ALIAS_PREFIX = 'jid_'
ALIAS_MAX_LEN = 128
ALIAS_RE = re.compile(r'^[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z')
# A job id of async_wrapper: [j]<digits>.<pid>; its prefix is the part before the dot.
WRAPPER_JID_RE = re.compile(r'^j?[0-9]+\.[0-9]+\Z')
JID_PREFIX_RE = re.compile(r'^j?[0-9]+\Z')
# A job id of Mitogen for Ansible's async runner: 16 hex digits ('%016x' of a random int).
MITOGEN_JID_RE = re.compile(r'^[0-9a-f]{16}\Z')
# Any job id: the name of a job file.
JID_RE = re.compile(r'^(?:j?[0-9]+\.[0-9]+|[0-9a-f]{16})\Z')
ALIAS_HELP = ('letters, digits, "_", "-" and ".", not starting with ".", at most %d characters'
              % ALIAS_MAX_LEN)


def alias_error(alias):
    """Return a message saying why ``alias`` is not a valid job name, or None."""
    if not isinstance(alias, str) or not alias:
        return 'alias must be a non-empty string of %s' % ALIAS_HELP
    if len(alias) > ALIAS_MAX_LEN or not ALIAS_RE.match(alias):
        return 'invalid alias %r: use only %s' % (alias, ALIAS_HELP)
    return None


def jid_error(jid):
    """Return a message saying why ``jid`` does not look like a job id, or None."""
    if not isinstance(jid, str) or not JID_RE.match(jid):
        return ('invalid jid %r: a job id looks like "j123456789012.4242" (async_wrapper: '
                'optional "j", digits, ".", digits) or "66c6c6863f27278e" (Mitogen for '
                'Ansible: 16 hex digits)' % (jid,))
    return None


def is_mitogen_jid(jid):
    """True for a job id of Mitogen for Ansible's async runner (16 hex digits)."""
    return MITOGEN_JID_RE.match(jid) is not None


def validate(alias=None, jid=None):
    """Raise JobError for an invalid alias or jid (those given)."""
    for msg in (alias_error(alias) if alias is not None else None,
                jid_error(jid) if jid is not None else None):
        if msg:
            raise JobError(msg)


def jid_prefix(jid):
    """The part of a jid that async_wrapper's command line carries ('j123' of 'j123.42');
    None for a job id of Mitogen's runner, whose processes carry none."""
    if not WRAPPER_JID_RE.match(jid):
        return None
    return jid.split('.', 1)[0]


# --------------------------------------------------------------------------
# Paths of the entries of the async dir

def job_path(async_dir, jid):
    return os.path.join(async_dir, jid)


def alias_path(async_dir, alias):
    return os.path.join(async_dir, ALIAS_PREFIX + alias)


def lock_path(async_dir, alias):
    """The lock file of a name: ``.jid_<alias>.lock`` (empty; see _host.writes.alias_lock)."""
    return os.path.join(async_dir, '.%s%s.lock' % (ALIAS_PREFIX, alias))


def claim_path(async_dir, alias):
    """The claim file of a name: ``.jid_<alias>.claim`` (see _host.claims)."""
    return os.path.join(async_dir, '.%s%s.claim' % (ALIAS_PREFIX, alias))


def meta_path(async_dir, jid):
    """The file in which async_task records how it started a job: ``.<jid>.meta``."""
    return os.path.join(async_dir, '.%s.meta' % jid)
