#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alias lookup time of asyncjobs.named with 10, 10,000 and 100,000 jobs in the
async dir, beside native async_status by jid. See bench/README.md.

The async dir is filled with N finished job files (JSON like the design's
finished-job example) and N ``jid_<alias>`` links to them, half relative and half
absolute, plus one link of the older form ``<jid>.jid_<alias>``. Then, at each N:

(a) in Python, the collection's core functions called directly (median
    microseconds per call): find_alias() of a name that exists (one readlink, must
    not scan the directory), of an absent name and of an older-form name (both
    scan the directory for ``<jid>.jid_<alias>``), job_status() by name, and
    native async_status's own steps by jid (exists, open, json.loads);
(b) the whole module run alone, as the design's debug recipe does:
      echo '{"ANSIBLE_MODULE_ARGS": {"alias": ..., "_async_dir": DIR}}' |
        PYTHONPATH=COLLECTIONS python -m ansible_collections.asyncjobs.named.plugins.modules.async_status_id
    beside ``python -m ansible.modules.async_status`` by jid, in the same run,
    interleaved (median milliseconds per run, python start-up included).

Aim: flat in N for a name that exists.
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

SIZES = (10, 10000, 100000)
FLAT_CORE = 1.5     # (a): existing-name lookup at the largest N within 1.5x of the smallest
FLAT_MODULE = 1.10  # (b): ours/native of the whole module run within 10 % of the smallest N's
ABSENT = 'no_such_job'
DISTINCT = 100     # job files with an inode of their own (see populate)
LEGACY = 'older_form'

# A finished job's file, as async_wrapper leaves it for a shell task (the design's example).
FINISHED = {
    "cmd": "echo Hello &&\nsleep 10\n", "stdout": "Hello", "stderr": "", "rc": 0,
    "start": "2021-05-14 18:00:36.164859", "end": "2021-05-14 18:00:46.169185",
    "delta": "0:00:10.004326", "changed": True,
    "invocation": {"module_args": {
        "_raw_params": "echo Hello &&\nsleep 10\n", "_uses_shell": True, "warn": False,
        "stdin_add_newline": True, "strip_empty_ends": True, "argv": None, "chdir": None,
        "executable": None, "creates": None, "removes": None, "stdin": None}},
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sizes', default=','.join(str(s) for s in SIZES),
                   help='comma-separated job counts, ascending (default %(default)s)')
    p.add_argument('--runs', type=int, default=21,
                   help='module runs per kind and size in (b) (default %(default)s)')
    p.add_argument('--budget', type=float, default=0.5,
                   help='seconds spent per measurement in (a) (default %(default)s)')
    p.add_argument('--bin-dir', help='bin dir of the python with ansible-core used in (b) '
                   '(default: $ANSIBLE_BIN_DIR, else .venv/bin)')
    p.add_argument('--collections-path', help='where asyncjobs.named is installed (default: the '
                   'first entry of $ANSIBLE_COLLECTIONS_PATH that has it, else .build/collections)')
    p.add_argument('--tmpdir', help='where to make the async dir (default: the system temp dir; '
                   'the file system matters)')
    p.add_argument('--keep', action='store_true', help='keep the async dir')
    a = p.parse_args()
    a.sizes = sorted(int(s) for s in a.sizes.split(','))
    if a.sizes[0] < 2 or a.runs < 3:
        p.error('sizes must be >= 2 and --runs >= 3')
    return a


def jid_of(i):
    return 'j%012d.%d' % (382716453000 + i * 7919, 1000 + i % 30000)


def populate(async_dir, start, stop):
    """Jobs start..stop-1: a job file each and a jid_job<i> link, relative for even i.

    The first DISTINCT jobs get files of their own; later job files are hard links to
    them (a directory entry each, sharing an inode), since creating 100,000 inodes takes
    minutes on slow disks while a lookup or a directory scan only sees the entries.
    """
    fd = os.open(async_dir, os.O_RDONLY)
    try:
        for i in range(start, stop):
            jid = jid_of(i)
            if i < DISTINCT:
                body = dict(FINISHED, stdout='Hello %d' % i, start='2021-05-14 18:%02d:36.164859' % (i % 60))
                f = os.open(jid, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
                try:
                    os.write(f, json.dumps(body).encode())
                finally:
                    os.close(f)
            else:
                os.link(jid_of(i % DISTINCT), jid, src_dir_fd=fd, dst_dir_fd=fd)
            os.symlink(jid if i % 2 == 0 else os.path.join(async_dir, jid), 'jid_job%d' % i, dir_fd=fd)
    finally:
        os.close(fd)


def per_call(fn, budget):
    """Median seconds per call of fn(), over batches sized to ~2 ms, for ~budget seconds."""
    t = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t, 1e-7)
    batch = max(1, int(0.002 / one))
    samples = []
    end = time.perf_counter() + budget
    while len(samples) < 7 or time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - t) / batch)
        if len(samples) >= 2000:
            break
    return lib.median(samples)


def native_steps(async_dir, jid):
    """What native async_status's module does by jid, minus AnsibleModule."""
    log_path = os.path.join(async_dir, jid)
    if not os.path.exists(log_path):
        raise RuntimeError('could not find job')
    with open(log_path) as f:
        data = json.loads(f.read())
    if 'started' not in data:
        data['finished'] = True
    return data


def core_figures(jobs, async_dir, existing, jid, budget):
    find_alias, job_status = jobs.find_alias, jobs.job_status
    # Sanity first: what each call finds.
    link, target = find_alias(async_dir, existing)
    assert link.endswith('jid_' + existing) and target == os.path.join(async_dir, jid), (link, target)
    assert find_alias(async_dir, ABSENT) == (None, None)
    assert find_alias(async_dir, LEGACY)[0].endswith('.jid_' + LEGACY)
    assert job_status(async_dir, alias=existing)['state'] == 'succeeded'
    assert native_steps(async_dir, jid)['finished']
    return dict(
        existing=per_call(lambda: find_alias(async_dir, existing), budget),
        absent=per_call(lambda: find_alias(async_dir, ABSENT), budget),
        legacy=per_call(lambda: find_alias(async_dir, LEGACY), budget),
        status=per_call(lambda: job_status(async_dir, alias=existing), budget),
        native=per_call(lambda: native_steps(async_dir, jid), budget),
    )


def module_figures(python, coll, async_dir, existing, jid, runs, cwd):
    ours = 'ansible_collections.asyncjobs.named.plugins.modules.async_status_id'
    kinds = (
        ('existing', ours, dict(alias=existing), 'succeeded'),
        ('absent', ours, dict(alias=ABSENT), 'absent'),
        ('ours_jid', ours, dict(jid=jid), 'succeeded'),
        ('native', 'ansible.modules.async_status', dict(jid=jid), None),
    )
    env = dict(os.environ, PYTHONPATH=coll, PYTHONDONTWRITEBYTECODE='1')
    times = dict((k[0], []) for k in kinds)
    for r in range(runs + 1):  # run 0 is a warm-up (page cache), not counted
        order = kinds if r % 2 == 0 else tuple(reversed(kinds))
        for name, module, args, state in order:
            args = dict(args, _async_dir=async_dir)
            stdin = json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode()
            t = time.perf_counter()
            proc = subprocess.run([python, '-m', module], input=stdin, cwd=cwd, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            elapsed = time.perf_counter() - t
            if r == 0:
                try:
                    result = json.loads(proc.stdout.decode())
                except ValueError:
                    result = {}
                ok = proc.returncode == 0 and (result.get('state') == state if state
                                               else result.get('finished') is True)
                if not ok:
                    lib.die('%s %s gave rc %d: %s %s' % (module, args, proc.returncode,
                                                        proc.stdout.decode()[-500:],
                                                        proc.stderr.decode()[-500:]))
            else:
                times[name].append(elapsed)
    return dict((k, lib.median(v)) for k, v in times.items())


def main():
    a = parse_args()
    bin_dir, bin_origin = lib.find_bin_dir(a.bin_dir)
    installed = lib.find_collections_path(a.collections_path)
    core, pyver = lib.ansible_version(bin_dir)
    python = os.path.join(bin_dir, 'python')
    stale = lib.stale_files(installed)

    tmp = tempfile.mkdtemp(prefix='bench-alias-lookup-', dir=a.tmpdir)
    try:
        # A private copy of the installed collection, without bytecode: every module run
        # compiles the collection's files, as an AnsiballZ payload does on a target.
        coll = os.path.join(tmp, 'collections')
        shutil.copytree(os.path.join(installed, lib.COLLECTION_SUBDIR, 'plugins'),
                        os.path.join(coll, lib.COLLECTION_SUBDIR, 'plugins'),
                        ignore=shutil.ignore_patterns('__pycache__'))
        sys.path.insert(0, coll)
        from ansible_collections.asyncjobs.named.plugins.module_utils._shared import names as jobs

        async_dir = os.path.join(tmp, 'async')
        os.mkdir(async_dir)
        fs = subprocess.run(['stat', '-f', '-c', '%T', async_dir], capture_output=True,
                            text=True).stdout.strip() or '?'

        print('alias_lookup: alias lookup time against the number of jobs in the async dir')
        print('  ansible-core %s (%s: %s); (a) runs in python %s, (b) in %s'
              % (core, bin_origin, bin_dir, sys.version.split()[0], python))
        print('  collection: %s' % os.path.join(installed, lib.COLLECTION_SUBDIR))
        if stale:
            print('  WARNING: installed collection differs from the working tree in %s '
                  '(run make build)' % ', '.join(stale))
        print('  async dir %s (%s); N jobs = N finished job files + N jid_<alias> links '
              '(half relative) + 1 older-form link; job files beyond the first %d are hard links' % (async_dir, fs, DISTINCT))
        print('  load average %.2f %.2f %.2f (others using the machine make figures noisier)'
              % os.getloadavg())
        sys.stdout.flush()

        # The older form <jid>.jid_<alias>, pointing at job 0.
        populate(async_dir, 0, 1)
        os.symlink(jid_of(0), os.path.join(async_dir, '%s.jid_%s' % (jid_of(0), LEGACY)))
        rows = []
        have = 1
        for n in a.sizes:
            t = time.time()
            populate(async_dir, have, n)
            have = n
            fill = time.time() - t
            i = n // 2 - (n // 2) % 2  # an even job: its link is relative
            existing, jid = 'job%d' % i, jid_of(i)
            entries = len(os.listdir(async_dir))
            c = core_figures(jobs, async_dir, existing, jid, a.budget)
            m = module_figures(python, coll, async_dir, existing, jid, a.runs, tmp)
            rows.append((n, entries, c, m))
            print('  N=%d: %d entries (filled in %.1f s), measured' % (n, entries, fill))
            sys.stdout.flush()

        print()
        print('(a) core functions called directly, microseconds per call (median)')
        print('%9s %9s | %13s %13s %13s | %13s %13s' % (
            'N', 'entries', 'find_alias', 'find_alias', 'find_alias', 'job_status', 'native steps'))
        print('%9s %9s | %13s %13s %13s | %13s %13s' % (
            '', '', 'existing', 'absent', 'older form', 'existing', 'by jid'))
        for n, entries, c, _m in rows:
            print('%9d %9d | %13.1f %13.1f %13.1f | %13.1f %13.1f' % (
                n, entries, c['existing'] * 1e6, c['absent'] * 1e6, c['legacy'] * 1e6,
                c['status'] * 1e6, c['native'] * 1e6))
        print()
        print('(b) module run alone (python -m, start-up included), milliseconds per run '
              '(median of %d)' % a.runs)
        print('%9s %9s | %13s %13s %13s | %13s | %11s' % (
            'N', 'entries', 'ours alias', 'ours alias', 'ours jid', 'native', 'ours alias'))
        print('%9s %9s | %13s %13s %13s | %13s | %11s' % (
            '', '', 'existing', 'absent', 'existing', 'jid', '/ native'))
        for n, entries, _c, m in rows:
            print('%9d %9d | %13.1f %13.1f %13.1f | %13.1f | %10.3fx' % (
                n, entries, m['existing'] * 1e3, m['absent'] * 1e3, m['ours_jid'] * 1e3,
                m['native'] * 1e3, m['existing'] / m['native']))
        print()
        first, last = rows[0], rows[-1]
        growth_core = last[2]['existing'] / first[2]['existing']
        # Whole runs are dominated by python start-up, which the machine's load moves
        # from one size to the next; compare with native, run interleaved at each size.
        growth_mod = (last[3]['existing'] / last[3]['native']) / (first[3]['existing'] / first[3]['native'])
        print('aim flat for an existing name: (a) x%.2f from N=%d to N=%d (limit x%.2f) -> %s'
              % (growth_core, first[0], last[0], FLAT_CORE,
                 'met' if growth_core <= FLAT_CORE else 'MISSED'))
        print('  (b) ours/native x%.2f from N=%d to N=%d (limit x%.2f) -> %s'
              % (growth_mod, first[0], last[0], FLAT_MODULE,
                 'met' if growth_mod <= FLAT_MODULE else 'MISSED'))
        print('load average at the end %.2f %.2f %.2f' % os.getloadavg())
        print('absent name (scans for <jid>.jid_<alias>): (a) %.1f us at N=%d -> %.1f us at N=%d'
              % (first[2]['absent'] * 1e6, first[0], last[2]['absent'] * 1e6, last[0]))
    finally:
        if a.keep:
            print('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
