#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time to list an async dir with async_jobs_info at 100, 1,000 and 10,000 jobs. See
bench/README.md.

The async dir (a temp dir) gets N finished job files (the design's finished-job JSON), a
tenth of them named, one running job named ``running`` with a live process shaped like its
async_wrapper, and one claim. At each N:

* (a) ``_host.listing.list_jobs`` called in Python, median of --runs: the whole listing (one
  listing of the dir, one read of each job file, one scan of the process table);
* (b) the whole module run alone, as the design's debug recipe runs a module
  (``python -m ansible_collections.asyncjobs.named.plugins.modules.async_jobs_info`` with
  its JSON arguments on stdin), Python start-up included, median of --runs.

Both as microseconds per job too. Aim: flat per job - the time per job at the largest N
within x1.5 of the smallest (after the fixed cost of the module run is taken off, b).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _benchlib as lib  # noqa: E402

FINISHED = {'cmd': 'echo Hello && sleep 10', 'stdout': 'Hello', 'stderr': '', 'rc': 0,
            'start': '2021-05-14 18:00:36.164859', 'end': '2021-05-14 18:00:46.169185',
            'delta': '0:00:10.004326', 'changed': True}
AIM = 1.5


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sizes', default='100,1000,10000', help='numbers of jobs (default %(default)s)')
    p.add_argument('--runs', type=int, default=7, help='runs per measurement (default 7)')
    p.add_argument('--bin-dir', help='bin dir with python (default: $ANSIBLE_BIN_DIR, else .venv/bin)')
    p.add_argument('--collections-path', help='where asyncjobs.named is installed')
    p.add_argument('--tmpdir', help='where to make the async dir (default: the system temp dir)')
    a = p.parse_args()
    a.sizes = [int(s) for s in a.sizes.split(',') if s]
    return a


def fill(async_dir, n, prefix):
    os.makedirs(async_dir)
    data = json.dumps(FINISHED)
    for i in range(n):
        jid = '%s%d.1' % (prefix, i)
        with open(os.path.join(async_dir, jid), 'w') as f:
            f.write(data)
        if i % 10 == 0:
            os.symlink(jid, os.path.join(async_dir, 'jid_job%d' % i))
    running = '%s999999.1' % prefix
    with open(os.path.join(async_dir, running), 'w') as f:
        json.dump({'started': 1, 'finished': 0, 'ansible_job_id': running}, f)
    os.symlink(running, os.path.join(async_dir, 'jid_running'))
    with open(os.path.join(async_dir, '.jid_starting.claim'), 'w') as f:
        json.dump({'token': 't', 'time': time.time(), 'pid': 1}, f)


def main():
    a = parse_args()
    bin_dir, _origin = lib.find_bin_dir(a.bin_dir)
    coll = lib.find_collections_path(a.collections_path)
    core, pyver = lib.ansible_version(bin_dir)
    python = os.path.join(bin_dir, 'python')
    tmp = tempfile.mkdtemp(prefix='bench-jobs-info-', dir=a.tmpdir)
    prefix = 'j%d' % (int(time.time()) % 100000)
    # a live process shaped like the running job's async_wrapper
    wrapper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)',
                                '/tmp/ansible-tmp-1/async_wrapper.py', prefix + '999999', '30',
                                '/tmp/ansible-tmp-1/AnsiballZ_command.py', '_'])
    try:
        print('jobs_info: async_jobs_info listing time by number of jobs')
        print('  ansible-core %s, python %s; collection %s' % (core, pyver, coll))
        print('  load average %.2f %.2f %.2f' % os.getloadavg())
        print('%8s %14s %12s %16s %12s' % ('jobs', 'list_jobs ms', 'us/job', 'module run ms',
                                          'us/job (b)'))
        rows = []
        env = dict(os.environ, PYTHONPATH=coll, PYTHONDONTWRITEBYTECODE='1')
        code = ('import sys, time, statistics\n'
                'from ansible_collections.asyncjobs.named.plugins.module_utils._host import listing\n'
                'ts = []\n'
                'for _ in range(%d):\n'
                '    t = time.perf_counter(); r = listing.list_jobs(sys.argv[1])\n'
                '    ts.append(time.perf_counter() - t)\n'
                'print(statistics.median(ts) * 1000, len(r["jobs"]))\n' % a.runs)
        for n in a.sizes:
            d = os.path.join(tmp, 'async-%d' % n)
            fill(d, n, prefix)
            out = subprocess.run([python, '-c', code, d], env=env, capture_output=True,
                                 text=True, check=True).stdout.split()
            core_ms, listed = float(out[0]), int(out[1])
            if listed != n + 1:
                lib.die('listed %d jobs, expected %d' % (listed, n + 1))
            args = json.dumps({'ANSIBLE_MODULE_ARGS': {'_async_dir': d}})
            runs = []
            for _ in range(a.runs):
                t = time.perf_counter()
                subprocess.run([python, '-m',
                                'ansible_collections.asyncjobs.named.plugins.modules.async_jobs_info'],
                               input=args, env=env, capture_output=True, text=True, check=True)
                runs.append((time.perf_counter() - t) * 1000)
            module_ms = lib.median(runs)
            rows.append((n, core_ms, module_ms))
            print('%8d %14.1f %12.1f %16.1f %12.1f' % (n, core_ms, core_ms * 1000 / n, module_ms,
                                                        module_ms * 1000 / n))
            shutil.rmtree(d)
        small, large = rows[0], rows[-1]
        per_small = small[1] / small[0]
        per_large = large[1] / large[0]
        ratio = per_large / per_small
        print('per-job cost of the listing, %d jobs against %d: x%.2f (aim <= x%.1f) -> %s'
              % (large[0], small[0], ratio, AIM, 'met' if ratio <= AIM else 'MISSED'))
    finally:
        wrapper.kill()
        wrapper.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
