#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The poll cost of two builds of the collection, paired: does a change (a refactoring) make
a status poll dearer? See bench/README.md.

usage: bench/poll_cost_builds.py --before DIR --after DIR [--pairs 4] [--rounds 20]

DIR is a collections path where a build is installed (``ansible-galaxy collection install
-p DIR``). Runs bench/poll_cost.py alternately on each (before, after, before, after... the
first of each pair alternating too), and prints, per run and as a median over the pairs,
what a poll by name costs beside native async_status in the same run: the paired ratio
ours / native of poll_cost's until loop (the machine's drift cancels out in it), and the
median ms of a poll by name. The figure to read is the ratio after / before of the paired
ratios, with its spread over the pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(collections, rounds, bin_dir, target_python):
    with tempfile.NamedTemporaryFile(suffix='.json') as out:
        subprocess.run([sys.executable, os.path.join(HERE, 'poll_cost.py'), '--rounds', str(rounds),
                        '--bin-dir', bin_dir, '--collections-path', collections,
                        '--target-python', target_python, '--json', out.name],
                       check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections))
        data = json.load(open(out.name, encoding='utf-8'))
    ours = data['samples_ms']['until/ours']
    paired = data['paired_ratios']['until']
    return statistics.median(paired), statistics.median(ours)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    p.add_argument('--before', required=True)
    p.add_argument('--after', required=True)
    p.add_argument('--pairs', type=int, default=4)
    p.add_argument('--rounds', type=int, default=20)
    p.add_argument('--bin-dir', default=os.path.join(os.path.dirname(HERE), '.venv', 'bin'))
    p.add_argument('--target-python', default='/usr/bin/python3')
    a = p.parse_args()
    rows = []
    print('poll_cost_builds: %d pairs of poll_cost.py runs (%d rounds each)' % (a.pairs, a.rounds))
    print('%-5s %-7s %22s %18s' % ('pair', 'build', 'ours/native (paired)', 'ours ms (median)'))
    for i in range(a.pairs):
        order = ('before', 'after') if i % 2 == 0 else ('after', 'before')
        got = {}
        for which in order:
            got[which] = run(getattr(a, which), a.rounds, a.bin_dir, a.target_python)
            print('%-5d %-7s %22.3f %18.1f' % (i + 1, which, got[which][0], got[which][1]), flush=True)
        rows.append((got['after'][0] / got['before'][0], got['after'][1] / got['before'][1]))
    ratios = sorted(r[0] for r in rows)
    ms = sorted(r[1] for r in rows)
    print('after / before, paired ours/native ratio: median %.3f (pairs %s)'
          % (statistics.median(ratios), ', '.join('%.3f' % r for r in ratios)))
    print('after / before, ms of a poll by name:     median %.3f (pairs %s)'
          % (statistics.median(ms), ', '.join('%.3f' % r for r in ms)))


if __name__ == '__main__':
    main()
