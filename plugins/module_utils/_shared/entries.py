# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kinds of entries in the async dir, by their names: jobs, names in both forms, locks,
claims, metas and temp files; the temp files of atomic writes.

Private to the collection. Runs on the target: Python 3.6 compatible (no f-strings
with '=', no walrus, no newer stdlib).
"""

import binascii
import os
import re

from ansible_collections.asyncjobs.named.plugins.module_utils._shared.names import (
    ALIAS_PREFIX, JID_RE, alias_error)

# The temp files of atomic writes (temp_name).
# The default bound of an output log, bytes (async_command's _output_limit).
DEFAULT_LIMIT = 100 * 1024 * 1024
# The smallest bound: below it, the kept start and end could not hold a record each.
MIN_LIMIT = 4096

OUTPUT_LOG_PREFIX = '.output-'
OUTPUT_LOG_SUFFIX = '.log'
_TOKEN = r'[A-Za-z0-9_-]{1,64}'
TOKEN_RE = re.compile(r'^%s\Z' % _TOKEN)
OUTPUT_LOG_RE = re.compile(r'^\.output-(%s)\.log\Z' % _TOKEN)
TEMP_RE = re.compile(r'^\.(.+)\.[0-9a-f]{12}\.tmp\Z')

# The older form of a name, <jid>.jid_<alias>.
LEGACY_RE = re.compile(r'^(j?[0-9]+\.[0-9]+|[0-9a-f]{16})\.jid_(.+)\Z')

# The lock and claim of a name (.jid_<alias>.lock, .claim) and a job's meta (.<jid>.meta).
SIDECAR_RE = re.compile(r'^\.(.+)\.(lock|claim|meta)\Z')


def entry_kind(name):
    """What an entry of the async dir is, by its name: (kind, key) with kind one of 'job'
    (key: jid), 'name' (``jid_<alias>``; key: alias), 'legacy_name' (``<jid>.jid_<alias>``;
    key: (jid, alias)), 'lock' and 'claim' (key: alias), 'meta' (key: jid), 'temp' (an atomic
    write's temp file, or native's ``<jid>.tmp``; key: the base name), or (None, None) for
    anything that is neither ours nor native async's."""
    if JID_RE.match(name):
        return 'job', name
    if name.startswith(ALIAS_PREFIX) and not alias_error(name[len(ALIAS_PREFIX):]):
        return 'name', name[len(ALIAS_PREFIX):]
    m = LEGACY_RE.match(name)
    if m and not alias_error(m.group(2)):
        return 'legacy_name', (m.group(1), m.group(2))
    m = SIDECAR_RE.match(name)
    if m:
        kind, key = m.group(2), m.group(1)
        if kind in ('lock', 'claim') and key.startswith(ALIAS_PREFIX) \
                and not alias_error(key[len(ALIAS_PREFIX):]):
            return kind, key[len(ALIAS_PREFIX):]
        if kind == 'meta' and JID_RE.match(key):
            return 'meta', key
    token = output_log_token(name)
    if token is not None:
        return 'output', token
    if name.endswith('.tmp') and JID_RE.match(name[:-4]):
        return 'temp', name[:-4]
    base = temp_base(name)
    if base is not None:
        return 'temp', base
    return None, None


def temp_name(base):
    """The name of the temp file of an atomic write of ``base``: ``.<base>.<12 hex>.tmp``."""
    return '.%s.%s.tmp' % (base, binascii.hexlify(os.urandom(6)).decode())


def temp_base(name):
    """``base`` when ``name`` is a temp file of an atomic write of it (``temp_name``), else None."""
    m = TEMP_RE.match(name)
    return m.group(1) if m else None


# --------------------------------------------------------------------------
# Output logs (see _host.output)

def output_log_name(token):
    """The file name of the output log of ``token``: ``.output-<token>.log``; ValueError
    for a token that is not 1 to 64 letters, digits, ``_`` or ``-``."""
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise ValueError('invalid output log token %r: use 1 to 64 letters, digits, "_" or "-"'
                         % (token,))
    return OUTPUT_LOG_PREFIX + token + OUTPUT_LOG_SUFFIX


def output_log_path(async_dir, token):
    """The path of the output log of ``token`` in ``async_dir``."""
    return os.path.join(async_dir, output_log_name(token))


def output_log_token(name):
    """The token of an output log's file name (a base name), or None for any other name."""
    m = OUTPUT_LOG_RE.match(name)
    return m.group(1) if m else None


def is_output_log(name):
    """True when ``name`` (a base name) is the name of an output log."""
    return OUTPUT_LOG_RE.match(name) is not None


def meta_output_log(async_dir, meta):
    """The path of the output log that a job's meta record (a dict, or None) names, or None.

    Only an output log's name in ``async_dir`` counts: whatever else the record says (a
    path, another file's name) never leads out of the dir or to a file that is not a log."""
    output = meta.get('output') if isinstance(meta, dict) else None
    if not isinstance(output, str) or not is_output_log(output):
        return None
    return os.path.join(async_dir, output)
