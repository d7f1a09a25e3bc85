# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failpoints: named points of the start and wait path where a test stops the code to
inject a fault there (the controller killed, the start runner killed, the job's wrapper
killed, the connection dropped), as etcd's gofail and FoundationDB's buggify do.

Inert unless a test switches them on: the controller's environment variable
``ASYNCJOBS_NAMED_FAILPOINTS=DIR:point[,point...]`` (read by the action plugins, see
``from_environ``), which they pass to the host as the private argument ``_failpoints``
(``{'dir': DIR, 'points': [...]}``). Switched off, ``failpoint()`` is one test of a
module global. Switched on, a point that is reached writes ``DIR/<point>.reached`` (JSON:
the process id, its parent's, and what the point knows: the jid prefix, the job id) and
waits until ``DIR/<point>.go`` exists (at most ``PAUSE_LIMIT`` seconds), so that the test
applies its fault at that exact moment and then lets the code go on (if it still runs).
Each point pauses once per process. Nothing is written anywhere else; nothing of this
runs unless switched on.

Private to the collection. Imports nothing of the collection: the controller and the
host both load it. Runs on the target too: Python 3.6 compatible.
"""

import json
import os
import time

FAILPOINTS_ENV = 'ASYNCJOBS_NAMED_FAILPOINTS'

# The points, in the order a start and a wait reach them.
POINTS = (
    'after-claim',      # the name is claimed, the job not started
    'after-wrapper',    # async_wrapper started the job, nothing named it yet
    'before-naming',    # the job's file is there, the name is about to be set
    'after-naming',     # the name leads to the job, the claim is not dropped yet
    'before-status',    # the start is done, its status is about to be read
    'in-wait-slice',    # inside a wait slice on the host, the job running
)
PAUSE_LIMIT = 300.0

_armed = None   # {'dir': path, 'points': set of names}, when switched on
_passed = set()


def parse(spec):
    """``{'dir': DIR, 'points': [...]}`` from ``DIR:point,point`` (the environment
    variable's form) or from that dict (the private argument's); ValueError when it names
    an unknown point or no absolute directory."""
    if isinstance(spec, dict):
        directory, points = spec.get('dir'), spec.get('points')
    else:
        directory, _sep, names = str(spec).rpartition(':')
        points = [n for n in names.split(',') if n]
    if not isinstance(directory, str) or not os.path.isabs(directory):
        raise ValueError('failpoints: %r needs an absolute directory (DIR:point,...)' % (spec,))
    if not isinstance(points, list) or not points:
        raise ValueError('failpoints: %r names no point' % (spec,))
    unknown = [p for p in points if p not in POINTS]
    if unknown:
        raise ValueError('failpoints: unknown point(s) %s; known: %s'
                         % (', '.join(map(str, unknown)), ', '.join(POINTS)))
    return dict(dir=directory, points=sorted(set(points)))


def from_environ(environ=None):
    """The failpoints switched on in the (controller's) environment, or None."""
    value = (os.environ if environ is None else environ).get(FAILPOINTS_ENV)
    return parse(value) if value else None


def arm(spec):
    """Switch the failpoints of ``spec`` on in this process (None: all off)."""
    global _armed
    _passed.clear()
    if not spec:
        _armed = None
        return
    spec = parse(spec)
    _armed = dict(dir=spec['dir'], points=set(spec['points']))


def armed():
    """True when failpoints are switched on in this process."""
    return _armed is not None


def failpoint(name, **info):
    """Pause at point ``name`` when it is switched on (see the module docstring)."""
    if _armed is None or name not in _armed['points'] or name in _passed:
        return
    _passed.add(name)
    directory = _armed['dir']
    record = dict(info, point=name, pid=os.getpid(), ppid=os.getppid(), time=time.time())
    tmp = os.path.join(directory, '.%s.%d.tmp' % (name, os.getpid()))
    with open(tmp, 'w') as f:
        json.dump(record, f)
    os.rename(tmp, os.path.join(directory, name + '.reached'))
    go = os.path.join(directory, name + '.go')
    deadline = time.time() + PAUSE_LIMIT
    while not os.path.exists(go) and time.time() < deadline:
        time.sleep(0.02)
