# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Random trials of exactly once: controllers killed at random moments of starts and waits.

usage: make chaos [TRIALS=200] [CHAOS_SEED=n]
       (python tests/chaos/chaos.py --trials N [--seed S] [--transports local,ssh])

Each trial, on a name of its own and in an async dir of its own, alternately over the
local connection (as root) and over SSH with become to the unprivileged ajjob:

1. starts 1 to 3 controllers at once (ansible-playbook, each in a session of its own) that
   run the same async_task: a job named by the trial, with a wait budget, whose shell logs
   its start and end (with its pid) to the trial's counter file and prints done-<pid>;
2. kills each controller (SIGKILL, with its workers and their local module runs, as a
   crash would) with probability 0.7, at a random moment from 0 to 5 s after its start:
   while it claims, starts, names, or waits;
3. waits until the survivors end, then runs the same task once more without killing it
   (the operator's re-run), which must succeed.

Then it counts: a *duplicate* is a trial in which two runs of the job overlapped, or the job
ran more than once although no controller had got its outcome (a controller whose task
returned the outcome frees the name, so the next run starts the job again: then two runs,
one after the other, are right); a *lost* trial is one whose re-run failed, or returned a
result that no run of the job produced (its stdout is not done-<pid> of a run that ended). It prints each trial,
then ``N trials, D duplicates, L lost`` and exits 1 unless both are 0.

Needs the collection built and installed (`make build`) and the SSH target
(`make ssh-setup`); `make chaos` does both. Run it alone on the machine: it is timing.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / 'tests' / 'integration'))

from _async_task_lib import kill_controller  # noqa: E402  (the tests' own crash)

COLLECTIONS = REPO / '.build' / 'collections'
SSH_DIR = Path(os.environ.get('AJ_SSH_DIR') or REPO / '.build' / 'ssh')
PORT = int(os.environ.get('AJ_SSH_PORT') or 2222)
PLAYBOOK = """---
- name: A named job, waited for (a chaos trial)
  hosts: all
  gather_facts: false
  become: "{{ become_job }}"
  become_user: ajjob
  tasks:
    - name: Start or attach, and wait
      asyncjobs.named.async_task:
        alias: "{{ alias }}"
        shell: echo "start $$" >> {{ counter }}; sleep 3.5; echo "end $$" >> {{ counter }}; echo "done-$$"
        async: 120
        timeout: 120
      register: run

    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ run | to_json }}"
        dest: "{{ result }}"
        mode: "0644"
      delegate_to: localhost
      become: false
"""


def inventory(base, transport, target_python):
    host = {'ansible_python_interpreter': target_python}
    if transport == 'local':
        name, host['ansible_connection'] = 'localhost', 'local'
    else:
        name = 'sshhost'
        host.update(ansible_host='127.0.0.1', ansible_port=PORT, ansible_user='ajssh',
                    ansible_ssh_private_key_file=str(SSH_DIR / 'id_ed25519'),
                    ansible_become_method='sudo', ansible_ssh_common_args=(
                        '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'))
    path = base / ('inventory-%s.yml' % transport)
    path.write_text(json.dumps({'all': {'hosts': {name: host}}}))
    return path


def runs_of(counter):
    """[(pid, ended)] in the order the runs started, and whether two overlapped."""
    order, ended, live, overlap = [], {}, 0, False
    for line in counter.read_text().splitlines() if counter.exists() else []:
        what, pid = line.split()[:2]
        if what == 'start':
            order.append(pid)
            ended[pid] = False
            live += 1
            overlap = overlap or live > 1
        elif what == 'end':
            ended[pid] = True
            live -= 1
    return [(p, ended[p]) for p in order], overlap


def delivered(log):
    """True when the controller's log shows its async_task task returned (the outcome was
    delivered to it, and the name freed)."""
    lines = log.read_text(errors='replace').splitlines() if log.exists() else []
    for i, line in enumerate(lines):
        if line.startswith('TASK [Start or attach, and wait]'):
            for after in lines[i + 1:]:
                if after.strip():
                    return after.startswith(('changed: [', 'ok: ['))
    return False


def trial(n, transport, base, playbook, target_python, ansible_playbook, rng, log):
    case = Path(tempfile.mkdtemp(prefix='trial-%03d-' % n, dir=str(base)))
    case.chmod(0o1777)
    counter = case / 'counter'
    counter.touch()
    counter.chmod(0o666)
    evars = dict(alias='chaos-%03d' % n, counter=str(counter), ansible_async_dir=str(case / 'async'),
                 become_job=transport == 'ssh')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='False', ANSIBLE_HOST_KEY_CHECKING='False',
               ANSIBLE_CONFIG=str(base / 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_RETRY_FILES_ENABLED='False')
    inv = inventory(base, transport, target_python)

    def launch(tag):
        vars_file = case / ('vars-%s.json' % tag)
        vars_file.write_text(json.dumps(dict(evars, result=str(case / ('result-%s.json' % tag)))))
        out = open(str(case / ('log-%s.txt' % tag)), 'w')
        return subprocess.Popen([ansible_playbook, '-i', str(inv), '-e', '@%s' % vars_file,
                                 str(playbook)], env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)

    controllers = rng.randint(1, 3)
    procs, kills = [], []
    began = time.time()
    for i in range(controllers):
        procs.append(launch('c%d' % i))
        kills.append(rng.uniform(0, 5) if rng.random() < 0.7 else None)
    pending = dict(enumerate(kills))
    while pending:
        now = time.time() - began
        for i, at in list(pending.items()):
            if procs[i].poll() is not None:
                del pending[i]
            elif at is not None and now >= at:
                kill_controller(procs[i].pid)
                del pending[i]
        time.sleep(0.02)
    for p in procs:
        try:
            p.wait(300)
        except subprocess.TimeoutExpired:
            kill_controller(p.pid)
    again = launch('again')
    rc = again.wait(300)
    result_path = case / 'result-again.json'
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    runs, overlap = runs_of(counter)
    got = any(delivered(case / ('log-c%d.txt' % i)) for i in range(controllers))
    duplicate = overlap or len(runs) != (2 if got else 1)
    done = ['done-%s' % p for p, ended in runs if ended]
    lost = rc != 0 or result.get('failed') is not False or result.get('stdout') not in done
    log('trial %3d %-5s controllers %d, killed at %s: runs %d%s%s, re-run rc %s %s%s' % (
        n, transport, controllers,
        ', '.join('%.2fs' % k if k is not None else '-' for k in kills), len(runs),
        ' (overlapping)' if overlap else '', ' (an outcome was delivered)' if got else '',
        rc, result.get('stdout'),
        (' DUPLICATE' if duplicate else '') + (' LOST' if lost else '')))
    if not duplicate and not lost:
        shutil.rmtree(str(case), ignore_errors=True)
    return duplicate, lost


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--trials', type=int, default=200)
    parser.add_argument('--seed', type=int, default=None)
    parser.add_argument('--transports', default='local,ssh')
    parser.add_argument('--target-python', default=os.environ.get('TARGET_PYTHON') or '/usr/bin/python3')
    opts = parser.parse_args()
    seed = opts.seed if opts.seed is not None else random.randrange(10 ** 6)
    rng = random.Random(seed)
    ansible_playbook = str(Path(sys.executable).parent / 'ansible-playbook')
    base = Path(tempfile.mkdtemp(prefix='asyncjobs-chaos-'))
    base.chmod(0o755)
    (base / 'ansible.cfg').write_text('# empty on purpose\n')
    playbook = base / 'chaos.yml'
    playbook.write_text(PLAYBOOK)
    transports = opts.transports.split(',')
    print('chaos: %d trials, seed %d, transports %s, in %s' % (opts.trials, seed,
                                                               ', '.join(transports), base))
    duplicates = lost = 0
    began = time.time()
    for n in range(opts.trials):
        d, l_ = trial(n, transports[n % len(transports)], base, playbook, opts.target_python,
                      ansible_playbook, rng, lambda s: print(s, flush=True))
        duplicates += d
        lost += l_
    print('chaos: %d trials, %d duplicates, %d lost (seed %d, %.0f s)'
          % (opts.trials, duplicates, lost, seed, time.time() - began))
    if not duplicates and not lost:
        shutil.rmtree(str(base), ignore_errors=True)
    else:
        print('chaos: the failed trials are kept in %s' % base)
    return 1 if duplicates or lost else 0


if __name__ == '__main__':
    sys.exit(main())
