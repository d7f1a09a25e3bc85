#!/usr/bin/env python3
"""Run the demo as AWX / Automation Platform run jobs: through ``ansible-runner run``.

usage: .ci/runner_check.py [REPO]   (run with the python of .venv-runner, which has
ansible-runner, ansible-builder and ansible-core; `make runner` does, with
ANSIBLE_COLLECTIONS_PATH pointing at the built and installed collection)

1. A private data dir in a temp dir, laid out as ansible-runner (and so AWX) expects:
   project/ holds a copy of examples/ (demo.yml and its tasks), inventory/hosts the
   examples' inventory, env/envvars the collections path (only the built collection).
2. ``ansible-runner run PRIVATE_DATA_DIR -p demo.yml --ident demo``, which must exit 0.
3. Its job events (artifacts/demo/job_events/*.json) must hold ``runner_retry`` events
   (the demo's wait retries while the job runs: what AWX shows as "FAILED - RETRYING"),
   an ``runner_on_ok`` of every module of this collection the demo uses, no failed or
   unreachable host in the final ``playbook_on_stats``, and the status file must say
   ``successful``.
4. ``ansible-builder introspect`` of the installed collection finds no Python and no
   system requirement: meta/execution-environment.yml states none beyond ansible-core.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

DEMO_MODULES = ('asyncjobs.named.async_status_id', 'asyncjobs.named.async_alias')


def main():
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else '.')
    bindir = os.path.dirname(sys.executable)
    collections = os.environ.get('ANSIBLE_COLLECTIONS_PATH')
    errors = []
    if not collections:
        return report(['ANSIBLE_COLLECTIONS_PATH is not set: the demo runs the installed collection'])
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get('PATH', ''))

    tmp = tempfile.mkdtemp(prefix='runner-demo-')
    try:
        pdd = os.path.join(tmp, 'pdd')
        shutil.copytree(os.path.join(repo, 'examples'), os.path.join(pdd, 'project'))
        os.makedirs(os.path.join(pdd, 'inventory'))
        shutil.copy(os.path.join(repo, 'examples', 'inventory.yml'), os.path.join(pdd, 'inventory', 'hosts.yml'))
        os.makedirs(os.path.join(pdd, 'env'))
        with open(os.path.join(pdd, 'env', 'envvars'), 'w', encoding='utf-8') as f:
            yaml.safe_dump({'ANSIBLE_COLLECTIONS_PATH': collections,
                            'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'False',
                            'ANSIBLE_NOCOLOR': '1'}, f)
        cmd = [os.path.join(bindir, 'ansible-runner'), 'run', pdd, '-p', 'demo.yml', '--ident', 'demo']
        print('runner: $ %s' % ' '.join(cmd), flush=True)
        log = os.path.join(tmp, 'runner.log')
        with open(log, 'w', encoding='utf-8') as out:
            rc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, timeout=600, check=False).returncode
        if rc != 0:
            with open(log, encoding='utf-8') as f:
                sys.stdout.write(f.read()[-8000:])
            errors.append('ansible-runner run exited %d' % rc)
        errors += check_artifacts(os.path.join(pdd, 'artifacts', 'demo'))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    errors += check_execution_environment(bindir, collections, env)
    return report(errors)


def check_artifacts(artifacts):
    errors = []
    status_file = os.path.join(artifacts, 'status')
    status = open(status_file, encoding='utf-8').read().strip() if os.path.isfile(status_file) else None
    if status != 'successful':
        errors.append('final status %r, not successful' % status)
    events = []
    for path in glob.glob(os.path.join(artifacts, 'job_events', '*.json')):
        with open(path, encoding='utf-8') as f:
            events.append(json.load(f))
    events.sort(key=lambda e: e.get('counter', 0))
    kinds = {}
    for e in events:
        kinds[e.get('event')] = kinds.get(e.get('event'), 0) + 1
    print('runner: status %s, %d job events: %s' % (status, len(events), ', '.join(
        '%s %d' % kv for kv in sorted(kinds.items()))))
    if not kinds.get('runner_retry'):
        errors.append('no runner_retry event: the wait for the running job did not show its retries')
    ok_modules = {(e.get('event_data') or {}).get('resolved_action') or (e.get('event_data') or {}).get('task_action')
                  for e in events if e.get('event') == 'runner_on_ok'}
    for module in DEMO_MODULES:
        if module not in ok_modules:
            errors.append('no runner_on_ok event of %s' % module)
    if kinds.get('runner_on_failed') or kinds.get('runner_on_unreachable'):
        errors.append('failed or unreachable events: %s' % {k: v for k, v in kinds.items()
                                                           if k in ('runner_on_failed', 'runner_on_unreachable')})
    stats = [e for e in events if e.get('event') == 'playbook_on_stats']
    if not stats:
        errors.append('no playbook_on_stats event')
    else:
        data = stats[-1].get('event_data') or {}
        bad = {k: data.get(k) for k in ('failures', 'dark') if data.get(k)}
        if bad or not data.get('ok'):
            errors.append('playbook_on_stats: %s' % ({k: data.get(k) for k in ('ok', 'failures', 'dark')},))
    return errors


def check_execution_environment(bindir, collections, env):
    cmd = [os.path.join(bindir, 'ansible-builder'), 'introspect', '--sanitize', collections]
    print('runner: $ %s' % ' '.join(cmd), flush=True)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        return ['ansible-builder introspect failed: %s' % (p.stderr or p.stdout)[-2000:]]
    body = p.stdout.split('---', 1)[-1]
    deps = yaml.safe_load(body) or {}
    found = {k: v for k, v in deps.items() if v}
    if found:
        return ['ansible-builder finds requirements beyond ansible-core: %s' % found]
    print('runner: ansible-builder introspect: no Python or system requirements')
    return []


def report(errors):
    for e in errors:
        print('runner: ERROR: %s' % e, file=sys.stderr)
    print('runner: %s' % ('FAILED' if errors else 'the demo ran through ansible-runner'))
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
