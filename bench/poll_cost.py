#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-poll cost of asyncjobs.named.async_status_id (by alias) against native
ansible.builtin.async_status (by jid), on the same running job, in one
ansible-playbook run against localhost. See bench/README.md.

Two measurements, interleaved round after round (bench/poll_cost.yml):

* until: one task per kind and round polling with ``until``/``retries``/``delay: 0``;
  a sample is the time between two consecutive retries (one poll: action plugin
  plus module run, as when a playbook waits on a job);
* task: single-poll tasks; a sample is a whole task, from its start to its result
  (adds the worker fork and the task's own overhead, the same for both kinds).

Aim: async_status_id costs less than 1.05 times what async_status costs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _benchlib as lib  # noqa: E402

AIM = 1.05
KINDS = (('native', 'ansible.builtin.async_status, by jid'),
         ('ours', 'asyncjobs.named.async_status_id, by alias'))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rounds', type=int, default=40, help='interleaved rounds (default 40)')
    p.add_argument('--polls', type=int, default=5,
                   help='polls per until task, i.e. per kind and round; the first and last '
                   'of each are not counted (default 5; short tasks follow load changes)')
    p.add_argument('--tasks', type=int, default=2,
                   help='single-poll tasks per kind and round (default 2)')
    p.add_argument('--extra-procs', type=int, default=0, metavar='N',
                   help='start N idle processes (sleep) for the run, to see how the liveness '
                   'check, which reads every process\'s command line, grows (default 0)')
    p.add_argument('--pipelining', action='store_true',
                   help='run with ANSIBLE_PIPELINING=True (default: Ansible\'s default, off)')
    p.add_argument('--bin-dir', help='bin dir with ansible-playbook and python '
                   '(default: $ANSIBLE_BIN_DIR, else .venv/bin)')
    p.add_argument('--collections-path', help='where asyncjobs.named is installed (default: the '
                   'first entry of $ANSIBLE_COLLECTIONS_PATH that has it, else .build/collections)')
    p.add_argument('--target-python', help='ansible_python_interpreter of localhost (default: '
                   '$TARGET_PYTHON, else /usr/bin/python3, else the python of the bin dir)')
    p.add_argument('--contained', action='store_true',
                   help='start the polled job with async_task, contained (its cgroup as root, '
                   'its keeper): what our status read adds for a contained job; both kinds '
                   'poll that job (default: a plain async job, named with async_alias)')
    p.add_argument('--json', metavar='FILE', help='also write the raw samples (ms) to FILE')
    p.add_argument('--keep', action='store_true', help='keep the temp dir (playbook log)')
    a = p.parse_args()
    if a.rounds < 2 or a.polls < 3 or a.tasks < 1:
        p.error('need --rounds >= 2, --polls >= 3, --tasks >= 1')
    return a


def samples(records, polls):
    """Per-poll durations in ms, {(mode, kind): [..]}, and per mode the ratios ours/native
    of neighbouring measurements (the two until tasks of a round, the two tasks of a
    pair), {mode: [..]}, which slow changes of the machine's load cancel out of."""
    out, per_task = {}, {}
    for rec in records:
        if rec['status'] == 'skipped':
            continue
        if rec['status'] != 'ok':
            lib.die('task %r ended %s; see the playbook log' % (rec['name'], rec['status']))
        if rec['mode'] == 'until' and len(rec['retries']) != polls - 1:
            lib.die('task %r polled %d times, not %d' % (rec['name'], len(rec['retries']) + 1, polls))
        key = (rec['mode'], rec['kind'])
        if rec['mode'] == 'until':
            # The first poll also holds the worker's fork, the last one the result's
            # trip back: keep the polls between two retries only.
            r = rec['retries']
            v = [(b - a) * 1000.0 for a, b in zip(r, r[1:])]
        else:
            v = [(rec['end'] - rec['start']) * 1000.0]
        out.setdefault(key, []).extend(v)
        per_task.setdefault(rec['mode'], []).append((rec['kind'], lib.median(v)))
    paired = {}
    for mode, seq in per_task.items():
        for (k1, v1), (k2, v2) in zip(seq[::2], seq[1::2]):
            if set((k1, k2)) != set(('native', 'ours')):
                lib.die('%s measurements are not in native/ours pairs' % mode)
            ours, native = (v1, v2) if k1 == 'ours' else (v2, v1)
            paired.setdefault(mode, []).append(ours / native)
    return out, paired


def median_ci(values, n=2000, seed=1):
    """Bootstrap 95 % confidence interval of the median."""
    rnd = random.Random(seed)
    meds = sorted(lib.median([rnd.choice(values) for _ in values]) for _ in range(n))
    return meds[int(n * 0.025)], meds[int(n * 0.975) - 1]


def stop_job(pid_file):
    """Last resort if the playbook did not stop the job: kill the recorded sleep."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return
    if pid <= 1:
        return
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            if not f.read().startswith(b'sleep\0'):
                return  # gone, or the pid was reused
    except OSError:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass


def main():
    a = parse_args()
    bin_dir, bin_origin = lib.find_bin_dir(a.bin_dir)
    coll = lib.find_collections_path(a.collections_path)
    core, pyver = lib.ansible_version(bin_dir)
    target_python = lib.default_target_python(bin_dir, a.target_python)
    stale = lib.stale_files(coll)

    tmp = tempfile.mkdtemp(prefix='bench-poll-cost-')
    idle = []
    pid_file = os.path.join(tmp, 'job.pid')
    out_file = os.path.join(tmp, 'timer.json')
    log_file = os.path.join(tmp, 'playbook.log')
    try:
        with open(os.path.join(tmp, 'inventory'), 'w') as f:
            f.write('bench_target ansible_host=127.0.0.1 ansible_connection=local '
                    'ansible_python_interpreter=%s\n' % target_python)
        with open(os.path.join(tmp, 'vars.json'), 'w') as f:
            json.dump(dict(bench_rounds=a.rounds, bench_polls=a.polls, bench_tasks=a.tasks,
                           bench_alias='bench_poll_cost', bench_pid_file=pid_file,
                           bench_contained=a.contained), f)
        env = dict(os.environ)
        env.update(
            ANSIBLE_COLLECTIONS_PATH=coll,
            ANSIBLE_CALLBACK_PLUGINS=os.path.join(lib.BENCH_DIR, 'callback_plugins'),
            ANSIBLE_CALLBACKS_ENABLED='bench_timer',
            BENCH_TIMER_OUT=out_file,
            ANSIBLE_ASYNC_DIR=os.path.join(tmp, 'async'),
            ANSIBLE_LOCAL_TEMP=os.path.join(tmp, 'local'),
            ANSIBLE_NOCOLOR='1',
            ANSIBLE_RETRY_FILES_ENABLED='0',
            ANSIBLE_PIPELINING='True' if a.pipelining else 'False',
        )
        print('poll_cost: per-poll cost on one running job, same ansible-playbook run')
        print('  ansible-core %s, python %s (%s: %s)' % (core, pyver, bin_origin, bin_dir))
        print('  collection: %s' % os.path.join(coll, lib.COLLECTION_SUBDIR))
        if stale:
            print('  WARNING: installed collection differs from the working tree in %s '
                  '(run make build)' % ', '.join(stale))
        print('  localhost, connection local, interpreter %s, pipelining %s, async dir in %s'
              % (target_python, 'on' if a.pipelining else 'off', tmp))
        print('  %d rounds x (%d-poll until task + %d single-poll tasks) per kind, '
              'kinds alternating first' % (a.rounds, a.polls, a.tasks))
        print('  the polled job: %s' % ('started by async_task (contained: its cgroup as root, '
                                        'its keeper)' if a.contained else
                                        'a plain async job named with async_alias'))
        for _ in range(a.extra_procs):
            idle.append(subprocess.Popen(['sleep', '3600'], stdin=subprocess.DEVNULL))
        nprocs = len([d for d in os.listdir('/proc') if d.isdigit()]) if os.path.isdir('/proc') else -1
        print('  %d processes on the machine (%d started by this benchmark)' % (nprocs, len(idle)))
        print('  load average %.2f %.2f %.2f (others using the machine make figures noisier)'
              % os.getloadavg())
        sys.stdout.flush()

        t0 = time.time()
        with open(log_file, 'w') as log:
            proc = subprocess.run(
                [os.path.join(bin_dir, 'ansible-playbook'), '-i', os.path.join(tmp, 'inventory'),
                 os.path.join(lib.BENCH_DIR, 'poll_cost.yml'), '-e', '@' + os.path.join(tmp, 'vars.json')],
                cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=1800)
        elapsed = time.time() - t0
        if proc.returncode != 0 or not os.path.exists(out_file):
            with open(log_file) as f:
                sys.stderr.write(''.join(f.readlines()[-40:]))
            lib.die('ansible-playbook failed (rc %d); log above%s'
                    % (proc.returncode, '' if a.keep else ' (rerun with --keep to keep it)'))
        with open(out_file) as f:
            data, paired = samples(json.load(f), a.polls)

        print('  playbook ran in %.1f s; load average at the end %.2f %.2f %.2f\n'
              % ((elapsed,) + os.getloadavg()))
        print('%-50s %6s %10s %10s %10s' % ('ms per poll', 'n', 'median', 'mean', 'p90'))
        verdicts = []
        for mode, title in (('until', 'until/retries polling (time between two retries)'),
                            ('task', 'one task per poll (task start to result)')):
            print(title)
            stats = {}
            for kind, label in KINDS:
                v = data.get((mode, kind), [])
                if not v:
                    lib.die('no %s samples for %s' % (mode, kind))
                stats[kind] = (lib.median(v), lib.mean(v), lib.percentile(v, 90))
                print('  %-48s %6d %10.1f %10.1f %10.1f' % ((label, len(v)) + stats[kind]))
            ratio = [o / n for o, n in zip(stats['ours'], stats['native'])]
            print('  %-48s %6s %9.3fx %9.3fx %9.3fx' % (('ratio ours / native', '') + tuple(ratio)))
            pr = paired[mode]
            lo, hi = median_ci(pr)
            print('  %-48s %6d %9.3fx %9.3fx   95%% CI of the median %.3f-%.3f'
                  % ('paired ratio (neighbouring ours/native)', len(pr), lib.median(pr),
                     lib.mean(pr), lo, hi))
            verdicts.append((mode, ratio[0], lib.median(pr), lo, hi))
        print()
        for mode, med, pmed, lo, hi in verdicts:
            if hi < AIM:
                verdict = 'met'
            elif lo >= AIM:
                verdict = 'MISSED'
            else:
                verdict = '%s, within noise (the CI straddles %.2f: rerun on a quieter machine)' % (
                    'met' if pmed < AIM else 'MISSED', AIM)
            print('aim ratio < %.2f (%s): ratio of medians %.3f, paired %.3f (95%% CI %.3f-%.3f) -> %s'
                  % (AIM, mode, med, pmed, lo, hi, verdict))
        if a.json:
            with open(a.json, 'w') as f:
                json.dump(dict(ansible_core=core, python=pyver, pipelining=a.pipelining,
                               samples_ms=dict(('%s/%s' % k, v) for k, v in data.items()),
                               paired_ratios=paired), f)
    finally:
        stop_job(pid_file)
        for p in idle:
            p.kill()
        for p in idle:
            p.wait()
        if a.keep:
            print('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
