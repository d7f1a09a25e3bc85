#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How soon a wait ends after its job does, and how many module runs it costs on
the host: native ansible.builtin.async_status with until/retries/delay against
asyncjobs.named.async_wait with the same budget, in one ansible-playbook run
against localhost. See bench/README.md.

Each round starts a fresh job per method (``sleep 10; date +%s.%N``: its last
action prints the time it ends) and waits for it, the order alternating round
after round (bench/wait_latency.yml). Per wait:

* job end -> task end: from the job's printed end time to the moment the
  controller has the wait task's result (callback_plugins/wait_latency_timer.py,
  same wall clock, same machine);
* module executions: the interpreter of localhost is a wrapper that logs every
  Python start on the host and execs the real interpreter; the starts logged
  during the wait task are its module runs (the job's own async_wrapper and
  command runs are told apart by name and not counted).

Aim: async_wait ends under 0.5 s after the job, with at most a third of native's
module executions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _benchlib as lib  # noqa: E402

AIM_LATENCY = 0.5
AIM_RATIO = 1.0 / 3.0
METHODS = (('native', 'ansible.builtin.async_status until/retries/delay'),
           ('ours', 'asyncjobs.named.async_wait retries/delay'))
# Python starts on the host that belong to the job itself, not to a wait.
JOB_RUNS = re.compile(r'AnsiballZ_(command|shell)\.py|async_wrapper')
MODULE_NAME = re.compile(r'AnsiballZ_(\w+)\.py')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rounds', type=int, default=3,
                   help='rounds, each waiting once per method (default 3)')
    p.add_argument('--job-seconds', type=int, default=10, help='job length (default 10)')
    p.add_argument('--retries', type=int, default=12,
                   help='retries of both waits (default 12; budget = retries x delay)')
    p.add_argument('--delay', type=int, default=5, help='delay of both waits (default 5)')
    p.add_argument('--pipelining', action='store_true',
                   help='run with ANSIBLE_PIPELINING=True (default: Ansible\'s default, off)')
    p.add_argument('--ansible-playbook', default=os.environ.get('ANSIBLE_PLAYBOOK'),
                   help='ansible-playbook to run (default: $ANSIBLE_PLAYBOOK, else the one in '
                   '--bin-dir)')
    p.add_argument('--bin-dir', default=os.environ.get('ANSIBLE_BIN_DIR'),
                   help='bin dir with ansible-playbook (default: $ANSIBLE_BIN_DIR, else .venv/bin)')
    p.add_argument('--collections-path', help='where asyncjobs.named is installed (default: '
                   'the first entry of $ANSIBLE_COLLECTIONS_PATH that has it, else '
                   '.build/collections)')
    p.add_argument('--target-python', default=os.environ.get('TARGET_PYTHON'),
                   help='real interpreter on localhost, behind the counting wrapper (default: '
                   '$TARGET_PYTHON, else /usr/bin/python3, else the python of the bin dir)')
    p.add_argument('--json', metavar='FILE', help='also write the per-wait samples to FILE')
    p.add_argument('--keep', action='store_true',
                   help='keep the temp dir (playbook log, execution log, async dir)')
    a = p.parse_args()
    if a.rounds < 1 or a.job_seconds < 1 or a.retries < 1 or a.delay < 1:
        p.error('--rounds, --job-seconds, --retries and --delay must be 1 or more')
    if a.retries * a.delay <= a.job_seconds + 5:
        p.error('the budget (--retries x --delay) must exceed --job-seconds by more than 5 s')
    return a


def find_playbook(a):
    """(ansible-playbook, where it came from): --ansible-playbook/$ANSIBLE_PLAYBOOK,
    else --bin-dir/$ANSIBLE_BIN_DIR, else .venv/bin."""
    if a.ansible_playbook:
        path = shutil.which(a.ansible_playbook) or a.ansible_playbook
        if not os.access(path, os.X_OK):
            lib.die('%s is not an executable ansible-playbook' % a.ansible_playbook)
        return os.path.abspath(path), 'ANSIBLE_PLAYBOOK'
    bin_dir, origin = lib.find_bin_dir(a.bin_dir)
    return os.path.join(bin_dir, 'ansible-playbook'), origin


def find_collections(a):
    explicit = a.collections_path
    if not explicit:
        env = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
        have = [p for p in env if os.path.isdir(os.path.join(p, lib.COLLECTION_SUBDIR, 'plugins'))]
        explicit = (have or env or [None])[0]
    return lib.find_collections_path(explicit)


def playbook_version(playbook):
    """(ansible-core version, controller python version, controller python path)."""
    out = subprocess.run([playbook, '--version'], capture_output=True, text=True).stdout
    core = re.search(r'\[core ([^\]]+)\]', out)
    py = re.search(r'python version = (\S+)', out)
    exe = re.search(r'python version = .*\((/[^)]+)\)', out)
    return (core.group(1) if core else '?', py.group(1) if py else '?',
            exe.group(1) if exe else None)


def default_target_python(a, controller_python):
    if a.target_python:
        return a.target_python
    if os.access('/usr/bin/python3', os.X_OK):
        return '/usr/bin/python3'
    if controller_python:
        return controller_python
    lib.die('no target python: pass --target-python or set TARGET_PYTHON')


def write_wrapper(path, log, python):
    """An interpreter that logs '<epoch seconds> <args>' per start, then runs python."""
    with open(path, 'w') as f:
        f.write('#!/bin/bash\n'
                '# wait_latency.py: count every module run on the host, then run the real python\n'
                't=${EPOCHREALTIME:-$(date +%%s.%%N)}\n'
                'printf \'%%s %%s\\n\' "${t/,/.}" "$*" >> %s\n'
                'exec %s "$@"\n' % (shlex.quote(log), shlex.quote(python)))
    os.chmod(path, 0o755)


def read_runs(log):
    runs = []
    try:
        with open(log) as f:
            for line in f:
                stamp, _sep, args = line.rstrip('\n').partition(' ')
                try:
                    runs.append((float(stamp), args))
                except ValueError:
                    continue
    except OSError:
        pass
    return runs


def mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def samples(records, runs, async_dir):
    """One dict per wait, in playbook order."""
    out = []
    for i, rec in enumerate(records):
        res = rec['result']
        if rec['status'] != 'ok':
            lib.die('wait %d (%s) ended %s: %s; see the playbook log (rerun with --keep)'
                    % (i, rec['method'], rec['status'], res.get('msg', '')))
        try:
            job_end = float(res['stdout'].strip())
        except (KeyError, ValueError):
            lib.die('wait %d (%s): no end time in the job\'s stdout %r'
                    % (i, rec['method'], res.get('stdout')))
        inside = [(t, args) for t, args in runs
                  if rec['start'] <= t <= rec['end'] and not JOB_RUNS.search(args)]
        names = {}
        for _t, args in inside:
            m = MODULE_NAME.search(args)
            name = m.group(1) if m else '(pipelined)'
            names[name] = names.get(name, 0) + 1
        written = mtime(os.path.join(async_dir, res.get('ansible_job_id', '-')))
        out.append(dict(
            method=rec['method'],
            latency=rec['end'] - job_end,
            executions=len(inside),
            modules=names,
            # job end -> async_wrapper wrote the job file -> task end, for the profile
            file_lag=None if written is None else written - job_end,
            wait_seconds=rec['end'] - rec['start'],
            attempts=res.get('attempts'),
            waited=res.get('waited'),
        ))
    return out


def fmt_modules(names):
    return ', '.join('%s x%d' % (n, c) for n, c in sorted(names.items())) or '-'


def main():
    a = parse_args()
    playbook, pb_origin = find_playbook(a)
    coll = find_collections(a)
    core, pyver, controller_python = playbook_version(playbook)
    target_python = default_target_python(a, controller_python)
    stale = lib.stale_files(coll)

    tmp = tempfile.mkdtemp(prefix='bench-wait-latency-')
    async_dir = os.path.join(tmp, 'async')
    out_file = os.path.join(tmp, 'timer.json')
    runs_log = os.path.join(tmp, 'executions.log')
    log_file = os.path.join(tmp, 'playbook.log')
    wrapper = os.path.join(tmp, 'python')
    try:
        write_wrapper(wrapper, runs_log, target_python)
        with open(os.path.join(tmp, 'inventory'), 'w') as f:
            f.write('bench_target ansible_host=127.0.0.1 ansible_connection=local '
                    'ansible_python_interpreter=%s\n' % wrapper)
        with open(os.path.join(tmp, 'vars.json'), 'w') as f:
            json.dump(dict(bench_rounds=a.rounds, bench_job_seconds=a.job_seconds,
                           bench_retries=a.retries, bench_delay=a.delay), f)
        env = dict(os.environ)
        env.update(
            ANSIBLE_COLLECTIONS_PATH=coll,
            ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='False',
            ANSIBLE_CALLBACK_PLUGINS=os.path.join(lib.BENCH_DIR, 'callback_plugins'),
            ANSIBLE_CALLBACKS_ENABLED='wait_latency_timer',
            WAIT_LATENCY_OUT=out_file,
            ANSIBLE_ASYNC_DIR=async_dir,
            ANSIBLE_LOCAL_TEMP=os.path.join(tmp, 'local'),
            ANSIBLE_REMOTE_TMP=os.path.join(tmp, 'remote'),
            ANSIBLE_NOCOLOR='1',
            ANSIBLE_RETRY_FILES_ENABLED='0',
            ANSIBLE_PIPELINING='True' if a.pipelining else 'False',
        )
        budget = a.retries * a.delay
        print('wait_latency: a %d s job waited by native async_status and by async_wait, '
              'same ansible-playbook run' % a.job_seconds)
        print('  ansible-core %s, python %s (%s: %s)' % (core, pyver, pb_origin, playbook))
        print('  collection: %s' % os.path.join(coll, lib.COLLECTION_SUBDIR))
        if stale:
            print('  WARNING: installed collection differs from the working tree in %s '
                  '(run make build)' % ', '.join(stale))
        print('  localhost, connection local, pipelining %s, target python %s (behind a '
              'counting wrapper)' % ('on' if a.pipelining else 'off', target_python))
        print('  both waits: retries %d x delay %d s = %d s budget; %d round(s), one fresh job '
              'per wait, order alternating' % (a.retries, a.delay, budget, a.rounds))
        sys.stdout.flush()

        t0 = time.time()
        with open(log_file, 'w') as log:
            proc = subprocess.run(
                [playbook, '-i', os.path.join(tmp, 'inventory'),
                 os.path.join(lib.BENCH_DIR, 'wait_latency.yml'),
                 '-e', '@' + os.path.join(tmp, 'vars.json')],
                cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
                timeout=a.rounds * 2 * (budget + 60) + 120)
        elapsed = time.time() - t0
        if proc.returncode != 0 or not os.path.exists(out_file):
            with open(log_file) as f:
                sys.stderr.write(''.join(f.readlines()[-40:]))
            lib.die('ansible-playbook failed (rc %d); log above%s'
                    % (proc.returncode, '' if a.keep else ' (rerun with --keep to keep it)'))
        with open(out_file) as f:
            records = json.load(f)
        runs = read_runs(runs_log)
        data = samples(records, runs, async_dir)
        by = dict((m, [s for s in data if s['method'] == m]) for m, _label in METHODS)
        for m, _label in METHODS:
            if len(by[m]) != a.rounds:
                lib.die('%d %s waits recorded, expected %d' % (len(by[m]), m, a.rounds))
        if not runs:
            lib.die('the interpreter wrapper logged no module run; is %s used?' % wrapper)

        print('  playbook ran in %.1f s\n' % elapsed)
        print('per wait, in run order:')
        print('  %-3s %-7s %12s %10s %10s  %s' % ('#', 'method', 'end->task s', 'task s',
                                                   'executions', 'modules run (check)'))
        for i, s in enumerate(data):
            check = fmt_modules(s['modules'])
            if s['method'] == 'native':
                check += ', attempts %s' % s['attempts']
            else:
                check += ', waited %s s' % s['waited']
            if s['file_lag'] is not None:
                check += '; job file written %.3f s after job end' % s['file_lag']
            print('  %-3d %-7s %12.3f %10.3f %10d  %s' % (i, s['method'], s['latency'],
                                                          s['wait_seconds'], s['executions'],
                                                          check))
        print()
        print('%-52s %19s %19s' % ('', 'job end -> task end', 'module executions'))
        print('%-52s %9s %9s %9s %9s' % ('', 'median s', 'max s', 'median', 'max'))
        stats = {}
        for m, label in METHODS:
            lat = [s['latency'] for s in by[m]]
            ex = [s['executions'] for s in by[m]]
            stats[m] = dict(lat_med=lib.median(lat), lat_max=max(lat),
                            ex_med=lib.median(ex), ex_max=max(ex), ex_sum=sum(ex))
            print('  %-50s %9.3f %9.3f %9g %9d' % (label, stats[m]['lat_med'], stats[m]['lat_max'],
                                                   stats[m]['ex_med'], stats[m]['ex_max']))
        n, o = stats['native'], stats['ours']
        # per round: ours / native of the same round
        per_round = [so['executions'] / float(sn['executions'])
                     for sn, so in zip(by['native'], by['ours']) if sn['executions']]
        ratio_med = o['ex_med'] / n['ex_med'] if n['ex_med'] else float('inf')
        ratio_max = max(per_round) if per_round else float('inf')
        print('  %-50s %19s %9.3f %9.3f' % ('executions ratio ours / native (median; worst '
                                            'round)', '', ratio_med, ratio_max))
        print('  %-50s %19s %9d %9d' % ('executions in all (native, ours)', '', n['ex_sum'],
                                        o['ex_sum']))
        print()
        lat_ok = o['lat_med'] < AIM_LATENCY
        ratio_ok = ratio_med <= AIM_RATIO + 1e-9
        print('aim async_wait job end -> task end < %.1f s: median %.3f s, max %.3f s -> %s%s'
              % (AIM_LATENCY, o['lat_med'], o['lat_max'], 'met' if lat_ok else 'MISSED',
                 '' if (o['lat_max'] < AIM_LATENCY) == lat_ok else
                 (' (max misses it)' if lat_ok else ' (max meets it)')))
        print('aim executions ours / native <= 1/3: median %.3f, worst round %.3f -> %s%s'
              % (ratio_med, ratio_max, 'met' if ratio_ok else 'MISSED',
                 '' if (ratio_max <= AIM_RATIO + 1e-9) == ratio_ok else
                 (' (worst round misses it)' if ratio_ok else ' (worst round meets it)')))
        if a.json:
            with open(a.json, 'w') as f:
                json.dump(dict(ansible_core=core, python=pyver, pipelining=a.pipelining,
                               job_seconds=a.job_seconds, retries=a.retries, delay=a.delay,
                               samples=data), f, indent=1)
    finally:
        if a.keep:
            print('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
