#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fan-out: one job on each of N hosts, native async against asyncjobs.named, side by side
in one run. See bench/README.md.

Three flows, each a whole ansible-playbook run over N hosts with F forks, every host with
its own async dir, the job a ``sleep`` of a few seconds:

* native: ``async``/``poll: 0`` task, then ``async_status`` with until/retries/delay 1;
* two:    ``async_task`` (no wait budget) on every host, then ``async_wait``;
* one:    ``async_task`` with a wait budget (one task; holds a fork per host while it waits).

Per flow: the start phase (the first task, all hosts) and the whole flow in seconds, and
the remote commands and file transfers per host (``EXEC``/``PUT`` lines of a -vvv run on 2
hosts). On the local connection and over SSH to the test sshd (tests/integration/
setup_ssh.sh: ``make ssh-setup``), with ControlPersist (a master per host) and pipelining
on. The flows alternate round after round (the first one rotating), and the ratios
ours/native are taken within each round; their median and spread are printed.

Aims: start phase two/native <= 1.15; whole flow two/native <= 0.9.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _benchlib as lib  # noqa: E402

FLOWS = (('native', 'fanout_native.yml', 'native: async/poll 0, then async_status until'),
         ('two', 'fanout_two.yml', 'ours, two tasks: async_task, then async_wait'),
         ('one', 'fanout_one.yml', 'ours, one task: async_task with a wait budget'))
START_AIM = 1.15
WHOLE_AIM = 0.9
SSH_DIR = os.path.join(lib.REPO, '.build', 'ssh')
SSH_PORT = 2222
SSH_USER = 'ajssh'
EXEC_RE = re.compile(r'^<([^>]+)> (?:SSH: )?EXEC (?!sftp |scp )')
PUT_RE = re.compile(r'^<([^>]+)> PUT ')
TASK_RE = re.compile(r'^TASK \[(.*)\] \*+$')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--hosts', type=int, default=30, help='hosts (default 30)')
    p.add_argument('--forks', type=int, default=10, help='forks (default 10)')
    p.add_argument('--job-seconds', type=float, default=6, help='job length (default 6 s)')
    p.add_argument('--rounds', type=int, default=3,
                   help='rounds of the three flows per transport (default 3)')
    p.add_argument('--transports', default='local,ssh',
                   help='comma-separated: local, ssh (default both)')
    p.add_argument('--no-pipelining', action='store_true', help='run with pipelining off')
    p.add_argument('--bin-dir', help='bin dir with ansible-playbook and python '
                   '(default: $ANSIBLE_BIN_DIR, else .venv/bin)')
    p.add_argument('--collections-path', help='where asyncjobs.named is installed')
    p.add_argument('--target-python', help='ansible_python_interpreter of the hosts (default: '
                   '$TARGET_PYTHON, else /usr/bin/python3)')
    p.add_argument('--json', metavar='FILE', help='also write the raw figures to FILE')
    p.add_argument('--keep', action='store_true', help='keep the temp dir (logs)')
    a = p.parse_args()
    a.transports = [t for t in a.transports.split(',') if t]
    if not set(a.transports) <= set(('local', 'ssh')) or not a.transports:
        p.error('--transports takes local and/or ssh')
    if a.hosts < 1 or a.forks < 1 or a.rounds < 1:
        p.error('--hosts, --forks and --rounds must be at least 1')
    return a


def write_inventory(path, transport, n, tmp, target_python):
    """N hosts, each with its own async dir (and, over SSH, its own ControlPersist master)."""
    hosts = {}
    for i in range(1, n + 1):
        name = '%s%02d' % ('h' if transport == 'local' else 's', i)
        hv = dict(ansible_python_interpreter=target_python,
                  ansible_async_dir=os.path.join(tmp, 'async', name))
        if transport == 'local':
            hv['ansible_connection'] = 'local'
        else:
            hv.update(ansible_connection='ssh', ansible_host='127.0.0.1', ansible_port=SSH_PORT,
                      ansible_user=SSH_USER,
                      ansible_ssh_private_key_file=os.path.join(SSH_DIR, 'id_ed25519'),
                      ansible_ssh_common_args='-o StrictHostKeyChecking=no '
                                              '-o UserKnownHostsFile=/dev/null',
                      ansible_control_path=os.path.join(tmp, 'cp', name))
        hosts[name] = hv
    with open(path, 'w') as f:
        json.dump({'all': {'hosts': hosts}}, f)


def check_ssh():
    key = os.path.join(SSH_DIR, 'id_ed25519')
    if not os.path.exists(key):
        lib.die('no SSH test target (%s missing): run `make ssh-setup` first, or --transports local'
                % key)


def stop_masters(cp_dir):
    if not os.path.isdir(cp_dir):
        return
    for name in os.listdir(cp_dir):
        subprocess.run(['ssh', '-O', 'exit', '-o', 'ControlPath=%s' % os.path.join(cp_dir, name),
                        'x'], stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                       check=False)  # best effort: the master may be gone already


def run_flow(bin_dir, env, inventory, playbook, evars, log, timer, extra=()):
    cmd = [os.path.join(bin_dir, 'ansible-playbook'), '-i', inventory,
           os.path.join(lib.BENCH_DIR, playbook), '-e', json.dumps(evars)] + list(extra)
    env = dict(env, FANOUT_TIMER_OUT=timer)
    with open(log, 'w') as out:
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=1800)
    if proc.returncode != 0:
        with open(log) as f:
            sys.stderr.write(''.join(f.readlines()[-30:]))
        lib.die('%s failed (rc %d); log above' % (playbook, proc.returncode))
    with open(timer) as f:
        data = json.load(f)
    tasks = data['tasks']
    bad = sorted(k for k, v in data['outcomes'].items() if v != 'ok')
    if bad:
        lib.die('%s: not ok on %s' % (playbook, ', '.join(bad)))
    start_phase = (tasks[1]['start'] if len(tasks) > 1 else data['end']) - tasks[0]['start']
    return start_phase, data['end'] - tasks[0]['start']


def count_commands(log):
    """{task: (commands, transfers)} per host (the average over the hosts) of a -vvv log."""
    per = {}
    hosts = set()
    task = None
    with open(log) as f:
        for line in f:
            m = TASK_RE.match(line.rstrip('\n'))
            if m:
                task = m.group(1)
                continue
            for kind, rx in ((0, EXEC_RE), (1, PUT_RE)):
                m = rx.match(line)
                if m and task:
                    hosts.add(m.group(1))
                    per.setdefault(task, [0, 0])[kind] += 1
    n = max(1, len(hosts))
    return dict((t, (c / n, p / n)) for t, (c, p) in per.items())


def spread(values):
    return '%.2f (%.2f-%.2f)' % (lib.median(values), min(values), max(values))


def main():
    a = parse_args()
    bin_dir, bin_origin = lib.find_bin_dir(a.bin_dir)
    coll = lib.find_collections_path(a.collections_path)
    core, pyver = lib.ansible_version(bin_dir)
    target_python = lib.default_target_python(bin_dir, a.target_python)
    stale = lib.stale_files(coll)
    if 'ssh' in a.transports:
        check_ssh()

    tmp = tempfile.mkdtemp(prefix='bench-fanout-')
    os.chmod(tmp, 0o755)
    for d in ('async', 'cp', 'logs'):
        os.mkdir(os.path.join(tmp, d))
    os.chmod(os.path.join(tmp, 'async'), 0o1777)
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=coll,
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(lib.BENCH_DIR, 'callback_plugins'),
               ANSIBLE_CALLBACKS_ENABLED='fanout_timer', ANSIBLE_NOCOLOR='1',
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_HOST_KEY_CHECKING='False',
               ANSIBLE_FORKS=str(a.forks), ANSIBLE_LOCAL_TEMP=os.path.join(tmp, 'local'),
               ANSIBLE_PIPELINING='False' if a.no_pipelining else 'True',
               ANSIBLE_SSH_ARGS='-C -o ControlMaster=auto -o ControlPersist=60s')
    evars = dict(job_seconds=a.job_seconds)
    figures = {}
    try:
        print('fanout: %d hosts, forks %d, a %g s job per host, %d rounds per transport'
              % (a.hosts, a.forks, a.job_seconds, a.rounds))
        print('  ansible-core %s, python %s (%s: %s), pipelining %s'
              % (core, pyver, bin_origin, bin_dir, 'off' if a.no_pipelining else 'on'))
        print('  collection: %s' % os.path.join(coll, lib.COLLECTION_SUBDIR))
        if stale:
            print('  WARNING: installed collection differs from the working tree in %s '
                  '(run make build)' % ', '.join(stale))
        print('  target python %s; load average %.2f %.2f %.2f' % ((target_python,) + os.getloadavg()))
        sys.stdout.flush()
        for transport in a.transports:
            inv = os.path.join(tmp, 'inventory-%s.json' % transport)
            write_inventory(inv, transport, a.hosts, tmp, target_python)
            small = os.path.join(tmp, 'inventory-%s-2.json' % transport)
            write_inventory(small, transport, min(2, a.hosts), tmp, target_python)
            fig = figures[transport] = dict(times={}, commands={})
            # Remote commands per host, from a -vvv run on 2 hosts (first: it also warms
            # up the SSH masters and the controller's module cache).
            for key, playbook, _label in FLOWS:
                log = os.path.join(tmp, 'logs', '%s-%s-vvv.log' % (transport, key))
                run_flow(bin_dir, env, small, playbook, evars, log,
                         os.path.join(tmp, 'timer.json'), extra=('-vvv',))
                fig['commands'][key] = count_commands(log)
            order = [k for k, _p, _l in FLOWS]
            for rnd in range(a.rounds):
                rotated = order[rnd % 3:] + order[:rnd % 3]
                for key in rotated:
                    playbook = dict((k, p) for k, p, _l in FLOWS)[key]
                    log = os.path.join(tmp, 'logs', '%s-%s-%d.log' % (transport, key, rnd))
                    times = run_flow(bin_dir, env, inv, playbook, evars, log,
                                     os.path.join(tmp, 'timer.json'))
                    fig['times'].setdefault(key, []).append(times)
            report(transport, fig, a)
        print('load average at the end %.2f %.2f %.2f' % os.getloadavg())
        if a.json:
            with open(a.json, 'w') as f:
                json.dump(dict(ansible_core=core, python=pyver, hosts=a.hosts, forks=a.forks,
                               job_seconds=a.job_seconds, figures=figures), f, indent=1)
    finally:
        stop_masters(os.path.join(tmp, 'cp'))
        if a.keep:
            print('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def report(transport, fig, a):
    times, commands = fig['times'], fig['commands']
    print('\n== %s connection: %d hosts, forks %d (median of %d rounds, min-max)'
          % (transport, a.hosts, a.forks, a.rounds))
    print('%-50s %16s %16s %14s %14s' % ('flow', 'start phase s', 'whole flow s',
                                       'cmds/host', 'puts/host'))
    for key, _p, label in FLOWS:
        starts = [s for s, _w in times[key]]
        wholes = [w for _s, w in times[key]]
        cmds = commands[key]
        total_cmds = sum(c for c, _p in cmds.values())
        total_puts = sum(p for _c, p in cmds.values())
        first = cmds.get('FANOUT start', (0, 0))
        print('%-50s %16s %16s %6.1f (%4.1f) %6.1f (%4.1f)'
              % (label, spread(starts) if key != 'one' else '-', spread(wholes), total_cmds,
                 first[0], total_puts, first[1]))
    print('  (cmds/host, puts/host: whole flow, and in parentheses the start task)')
    ratios = {}
    for key in ('two', 'one'):
        ratios[key] = ([o[0] / n[0] for o, n in zip(times[key], times['native'])],
                       [o[1] / n[1] for o, n in zip(times[key], times['native'])])
    print('ratios ours/native, per round: median (min-max)')
    print('  two tasks: start phase %s, whole flow %s' % (spread(ratios['two'][0]),
                                                          spread(ratios['two'][1])))
    print('  one task:  whole flow %s' % spread(ratios['one'][1]))
    start_ratio = lib.median(ratios['two'][0])
    whole_ratio = lib.median(ratios['two'][1])
    print('aim start phase two/native <= %.2f: %.2f -> %s' % (
        START_AIM, start_ratio, 'met' if start_ratio <= START_AIM else 'MISSED'))
    print('aim whole flow two/native <= %.2f: %.2f -> %s' % (
        WHOLE_AIM, whole_ratio, 'met' if whole_ratio <= WHOLE_AIM else 'MISSED'))
    native_start = commands['native'].get('FANOUT start', (0, 0))[0]
    ours_start = commands['two'].get('FANOUT start', (0, 0))[0]
    print('aim commands of one start <= native + 1: %.1f vs %.1f -> %s' % (
        ours_start, native_start, 'met' if ours_start <= native_start + 1 else 'MISSED'))
    sys.stdout.flush()


if __name__ == '__main__':
    main()
