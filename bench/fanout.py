#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: asyncjobs.named contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fan-out: one job on each of N hosts, native async against asyncjobs.named, side by side
in one run. See bench/README.md.

Three flows, each a whole ansible-playbook run over N hosts with F forks, every host with
its own async dir, the job a ``sleep`` of a few seconds:

* native: ``async``/``poll: 0`` task, then ``async_status`` with until/retries/delay
  (``--native-delay``, 1 s);
* two:    ``async_task`` (no wait budget) on every host, then ``async_wait``;
* one:    ``async_task`` with a wait budget (one task; holds a fork per host while it waits).

Per flow: the start phase (the first task, all hosts), the whole flow in seconds, the
controller's CPU seconds (user+sys of ansible-playbook and every process under it: workers,
ssh clients and the ssh masters, which this process adopts as a subreaper and reaps once
the flow's connections are closed), and the remote operations per host (``EXEC``/``PUT``
lines of a -vvv run on 2 hosts). On the local connection and over SSH to the test sshd
(tests/integration/setup_ssh.sh: ``make ssh-setup``), with ControlPersist (a master per
host, fresh for each flow) and pipelining on. With ``--rtt MS`` the controller runs in a
network namespace of its own and reaches the sshd only through a proxy that delays each
direction by MS/2 (bench/_delayproxy.py): a real round trip per remote operation. The
flows alternate round after round (the first one rotating), and the ratios ours/native
are taken within each round; their median and spread are printed.

Aims (two tasks against native): without --rtt, start phase <= 1.25 and whole flow
<= 1.0; with --rtt, start phase <= 0.85, whole flow <= 0.95, controller CPU <= 0.6 and one
remote operation per start.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _benchlib as lib  # noqa: E402
from _delayproxy import DelayProxy, NetNamespace  # noqa: E402

FLOWS = (('native', 'fanout_native.yml', 'native: async/poll 0, then async_status until'),
         ('two', 'fanout_two.yml', 'ours, two tasks: async_task, then async_wait'),
         ('one', 'fanout_one.yml', 'ours, one task: async_task with a wait budget'))
# (start phase, whole flow, controller CPU) two/native; the remote operations of a start.
AIMS_LOCAL = (1.25, 1.0, None)
AIMS_RTT = (0.85, 0.95, 0.6)
START_OPS_AIM = 1
PR_SET_CHILD_SUBREAPER = 36
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
    p.add_argument('--transports',
                   help='comma-separated: local, ssh (default both; ssh alone with --rtt)')
    p.add_argument('--rtt', type=float, default=0.0, metavar='MS',
                   help='round-trip time of the SSH network in milliseconds: the controller '
                   'runs in a network namespace, the SSH target behind a delay proxy (root)')
    p.add_argument('--flows', default='native,two,one',
                   help='comma-separated flows to run: native (always), two, one (default all)')
    p.add_argument('--native-delay', type=float, default=1.0,
                   help='delay of native async_status polling (default 1 s)')
    p.add_argument('--no-pipelining', action='store_true', help='run with pipelining off')
    p.add_argument('--bin-dir', help='bin dir with ansible-playbook and python '
                   '(default: $ANSIBLE_BIN_DIR, else .venv/bin)')
    p.add_argument('--collections-path', help='where asyncjobs.named is installed')
    p.add_argument('--target-python', help='ansible_python_interpreter of the hosts (default: '
                   '$TARGET_PYTHON, else /usr/bin/python3)')
    p.add_argument('--json', metavar='FILE', help='also write the raw figures to FILE')
    p.add_argument('--keep', action='store_true', help='keep the temp dir (logs)')
    a = p.parse_args()
    if a.transports is None:
        a.transports = 'ssh' if a.rtt else 'local,ssh'
    a.transports = [t for t in a.transports.split(',') if t]
    a.flows = ['native'] + [f for f in a.flows.split(',') if f and f != 'native']
    if not set(a.flows) <= set(k for k, _p, _l in FLOWS):
        p.error('--flows takes native, two and/or one')
    if a.rtt < 0 or (a.rtt and os.geteuid() != 0):
        p.error('--rtt takes a round trip of 0 ms or more, and needs root (a network namespace)')
    if not set(a.transports) <= set(('local', 'ssh')) or not a.transports:
        p.error('--transports takes local and/or ssh')
    if a.hosts < 1 or a.forks < 1 or a.rounds < 1:
        p.error('--hosts, --forks and --rounds must be at least 1')
    return a


def write_inventory(path, transport, n, tmp, target_python, address=('127.0.0.1', None),
                    cp_dir='cp'):
    """N hosts, each with its own async dir (and, over SSH, its own ControlPersist master in
    ``cp_dir``, at ``address``: the sshd, or the delay proxy)."""
    hosts = {}
    for i in range(1, n + 1):
        name = '%s%02d' % ('h' if transport == 'local' else 's', i)
        hv = dict(ansible_python_interpreter=target_python,
                  ansible_async_dir=os.path.join(tmp, 'async', name))
        if transport == 'local':
            hv['ansible_connection'] = 'local'
        else:
            hv.update(ansible_connection='ssh', ansible_host=address[0],
                      ansible_port=address[1] or SSH_PORT,
                      ansible_user=SSH_USER,
                      ansible_ssh_private_key_file=os.path.join(SSH_DIR, 'id_ed25519'),
                      ansible_ssh_common_args='-o StrictHostKeyChecking=no '
                                              '-o UserKnownHostsFile=/dev/null',
                      ansible_control_path=os.path.join(tmp, cp_dir, name))
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


def become_subreaper():
    """Adopt the orphans of our children (the ssh masters, which daemonize), so that their
    CPU time is counted when they are reaped (reap_children)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_children(timeout=5.0):
    """Wait for every child left (the ssh masters, once told to exit)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            time.sleep(0.05)
    return False


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_flow(bin_dir, env, inventory, playbook, evars, log, timer, extra=(), netns=None,
             cp_dir=None):
    """(start phase s, whole flow s, controller CPU s) of one run of ``playbook``; with
    ``cp_dir``, its ssh masters are stopped and reaped after it, their CPU counted."""
    cmd = [os.path.join(bin_dir, 'ansible-playbook'), '-i', inventory,
           os.path.join(lib.BENCH_DIR, playbook), '-e', json.dumps(evars)] + list(extra)
    if netns is not None:
        cmd = netns.command(cmd)
    env = dict(env, FANOUT_TIMER_OUT=timer)
    cpu = children_cpu()
    with open(log, 'w') as out:
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=1800)
    if cp_dir:
        stop_masters(cp_dir)
        reap_children()
    cpu = children_cpu() - cpu
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
    return start_phase, data['end'] - tasks[0]['start'], cpu


def count_commands(log, n):
    """{task: (commands, transfers)} per host (the average over the ``n`` hosts) of a -vvv
    log."""
    per = {}
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
                    per.setdefault(task, [0, 0])[kind] += 1
    n = max(1, n)
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
    subreaper = become_subreaper()

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
    evars = dict(job_seconds=a.job_seconds, native_delay=a.native_delay)
    figures = {}
    netns = proxy = None
    try:
        print('fanout: %d hosts, forks %d, a %g s job per host, native polling every %g s, '
              '%d rounds per transport' % (a.hosts, a.forks, a.job_seconds, a.native_delay,
                                           a.rounds))
        print('  ansible-core %s, python %s (%s: %s), pipelining %s'
              % (core, pyver, bin_origin, bin_dir, 'off' if a.no_pipelining else 'on'))
        print('  collection: %s' % os.path.join(coll, lib.COLLECTION_SUBDIR))
        if stale:
            print('  WARNING: installed collection differs from the working tree in %s '
                  '(run make build)' % ', '.join(stale))
        print('  target python %s; load average %.2f %.2f %.2f' % ((target_python,) + os.getloadavg()))
        if not subreaper:
            print('  WARNING: cannot adopt the ssh masters: their CPU is not counted')
        address = ('127.0.0.1', None)
        if a.rtt:
            netns = NetNamespace('ajbench%d' % os.getpid()).create()
            proxy = DelayProxy((netns.outer_ip, 0), ('127.0.0.1', SSH_PORT), a.rtt / 2000.0)
            address = (netns.outer_ip, proxy.start())
            print('  SSH through a delay proxy at %s:%d, %g ms each way (round trip %g ms); the '
                  'controller in network namespace %s' % (address + (a.rtt / 2, a.rtt,
                                                                       netns.name)))
        sys.stdout.flush()
        flows = [f for f in FLOWS if f[0] in a.flows]
        for transport in a.transports:
            fig = figures[transport] = dict(times={}, commands={})
            ns = netns if transport == 'ssh' else None

            def inventory(n, cp_dir, transport=transport):
                path = os.path.join(tmp, 'inventory-%s-%s-%d.json' % (transport, cp_dir, n))
                os.makedirs(os.path.join(tmp, cp_dir), exist_ok=True)
                write_inventory(path, transport, n, tmp, target_python, address, cp_dir)
                return path
            # Remote operations per host, from a -vvv run on 2 hosts.
            for key, playbook, _label in flows:
                log = os.path.join(tmp, 'logs', '%s-%s-vvv.log' % (transport, key))
                cp_dir = 'cp-vvv-%s' % key
                run_flow(bin_dir, env, inventory(min(2, a.hosts), cp_dir), playbook, evars, log,
                         os.path.join(tmp, 'timer.json'), extra=('-vvv',), netns=ns,
                         cp_dir=os.path.join(tmp, cp_dir))
                fig['commands'][key] = count_commands(log, min(2, a.hosts))
            order = [k for k, _p, _l in flows]
            for rnd in range(a.rounds):
                rotated = order[rnd % len(order):] + order[:rnd % len(order)]
                for key in rotated:
                    playbook = dict((k, p) for k, p, _l in FLOWS)[key]
                    log = os.path.join(tmp, 'logs', '%s-%s-%d.log' % (transport, key, rnd))
                    cp_dir = 'cp-%s-%d' % (key, rnd)  # fresh connections for each flow
                    times = run_flow(bin_dir, env, inventory(a.hosts, cp_dir), playbook, evars,
                                     log, os.path.join(tmp, 'timer.json'), netns=ns,
                                     cp_dir=os.path.join(tmp, cp_dir))
                    fig['times'].setdefault(key, []).append(times)
            report(transport, fig, a)
        print('load average at the end %.2f %.2f %.2f' % os.getloadavg())
        if a.json:
            with open(a.json, 'w') as f:
                json.dump(dict(ansible_core=core, python=pyver, hosts=a.hosts, forks=a.forks,
                               job_seconds=a.job_seconds, native_delay=a.native_delay,
                               rtt_ms=a.rtt, figures=figures), f, indent=1)
    finally:
        for name in os.listdir(tmp):
            if name.startswith('cp'):
                stop_masters(os.path.join(tmp, name))
        if proxy is not None:
            proxy.stop()
        if netns is not None:
            netns.remove()
        if a.keep:
            print('kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def report(transport, fig, a):
    times, commands = fig['times'], fig['commands']
    rtt = ', round trip %g ms' % a.rtt if a.rtt and transport == 'ssh' else ''
    print('\n== %s connection%s: %d hosts, forks %d (median of %d rounds, min-max)'
          % (transport, rtt, a.hosts, a.forks, a.rounds))
    print('%-48s %16s %16s %16s %12s %12s' % ('flow', 'start phase s', 'whole flow s',
                                             'controller CPU s', 'cmds/host', 'puts/host'))
    for key, _p, label in FLOWS:
        if key not in times:
            continue
        starts = [t[0] for t in times[key]]
        wholes = [t[1] for t in times[key]]
        cpus = [t[2] for t in times[key]]
        cmds = commands[key]
        total_cmds = sum(c for c, _p in cmds.values())
        total_puts = sum(p for _c, p in cmds.values())
        first = cmds.get('FANOUT start', (0, 0))
        print('%-48s %16s %16s %16s %5.1f (%4.1f) %5.1f (%4.1f)'
              % (label, spread(starts) if key != 'one' else '-', spread(wholes), spread(cpus),
                 total_cmds, first[0], total_puts, first[1]))
    print('  (cmds/host, puts/host: whole flow, and in parentheses the start task)')
    ratios = {}
    for key in ('two', 'one'):
        if key in times:
            ratios[key] = [[o[k] / n[k] for o, n in zip(times[key], times['native'])]
                           for k in range(3)]
    print('ratios ours/native, per round: median (min-max)')
    if 'two' in ratios:
        print('  two tasks: start phase %s, whole flow %s, controller CPU %s' % (
            spread(ratios['two'][0]), spread(ratios['two'][1]), spread(ratios['two'][2])))
    if 'one' in ratios:
        print('  one task:  whole flow %s, controller CPU %s' % (spread(ratios['one'][1]),
                                                                 spread(ratios['one'][2])))
    if 'two' not in ratios:
        sys.stdout.flush()
        return
    aims = AIMS_RTT if a.rtt and transport == 'ssh' else AIMS_LOCAL
    for what, aim, k in (('start phase', aims[0], 0), ('whole flow', aims[1], 1),
                         ('controller CPU', aims[2], 2)):
        if aim is None:
            continue
        got = lib.median(ratios['two'][k])
        print('aim %s two/native <= %.2f: %.2f -> %s' % (what, aim, got,
                                                         'met' if got <= aim else 'MISSED'))
    native_start = sum(commands['native'].get('FANOUT start', (0, 0)))
    ours_start = sum(commands['two'].get('FANOUT start', (0, 0)))
    if not a.no_pipelining:
        print('aim remote operations of one start (commands + transfers) <= %d: %.1f (native '
              '%.1f) -> %s' % (START_OPS_AIM, ours_start, native_start,
                               'met' if ours_start <= START_OPS_AIM else 'MISSED'))
    sys.stdout.flush()


if __name__ == '__main__':
    main()
