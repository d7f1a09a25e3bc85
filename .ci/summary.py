#!/usr/bin/env python3
"""Print one closing summary for all the pytest runs of `make test`.

Reads the JUnit XML reports that the Makefile's pytest runs write (one per run) and
prints a per-run line and a total line in pytest's own wording, e.g.
``total: 42 passed, 0 failed, 1 skipped``, so that the output of `make test` ends with
the overall counts even though several pytest (and other) runs took place.
Before those lines it prints the version matrix (.build/reports/matrix.json, written by
`make matrix`): one line per integration run with its ansible-core, controller and target
Python, the lock its venv holds and the first 12 hex digits of that lock's sha256, suite,
counts and time; then the same for every venv of the repository (the tool venvs too), so
that a red run can be compared with the last green one.
Exits 1 if any run recorded a failure or error, or if no test ran at all.
"""
import glob
import hashlib
import json
import os
import sys
import xml.etree.ElementTree as ET


def counts(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
    tot = dict(tests=0, failures=0, errors=0, skipped=0)
    for s in suites:
        for k in tot:
            tot[k] += int(s.get(k, 0))
    return tot


def venv_lines(repo):
    """One line per venv that .ci/mkvenv.sh made in REPO: its lock, the lock's hash, the
    ansible-core and Python versions read from the venv itself."""
    lines = []
    for stamp in sorted(glob.glob(os.path.join(repo, '.venv*', '.lock.stamp'))):
        venv = os.path.dirname(stamp)
        with open(stamp, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        try:
            with open(os.path.join(venv, '.lock.path'), encoding='utf-8') as f:
                lock = f.read().strip()
        except OSError:
            lock = '?'
        core = python = '?'
        with open(stamp, encoding='utf-8') as f:
            for line in f:
                if line.startswith('ansible-core=='):
                    core = line.split('==')[1].split()[0]
        cfg = os.path.join(venv, 'pyvenv.cfg')
        if os.path.isfile(cfg):
            with open(cfg, encoding='utf-8') as f:
                for line in f:
                    key, _, value = line.partition('=')
                    if key.strip() in ('version', 'version_info'):
                        python = value.strip()
        lines.append('%-13s %-28s %s  ansible-core %-8s Python %s'
                     % (os.path.basename(venv), lock, digest, core, python))
    return lines


def main():
    report_dir = sys.argv[1] if len(sys.argv) > 1 else '.build/reports'
    files = sorted(glob.glob(os.path.join(report_dir, '*.xml')))
    grand = dict(passed=0, failed=0, skipped=0)
    print('=' * 30 + ' make test summary ' + '=' * 30)
    matrix = os.path.join(report_dir, 'matrix.json')
    if os.path.isfile(matrix):
        with open(matrix, encoding='utf-8') as f:
            rows = json.load(f)['rows']
        print('integration runs (ansible-core, controller Python, target Python, lock, suite):')
        for r in rows:
            print('  %-8s %-7s %-7s %s@%s %-6s %3d passed, %d failed, %d skipped, %4.0f s  (%s)'
                  % (r['ansible_core'], r['controller_python'], r['target_python'],
                     r.get('lock', 'unlocked'), r.get('lock_sha256', '-'), r['suite'],
                     r['passed'], r['failed'], r['skipped'], r['seconds'], r['name']))
    print('venvs (lock, sha256 of the lock, ansible-core, Python):')
    for line in venv_lines(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))):
        print('  ' + line)
    for f in files:
        c = counts(f)
        failed = c['failures'] + c['errors']
        passed = c['tests'] - failed - c['skipped']
        grand['passed'] += passed
        grand['failed'] += failed
        grand['skipped'] += c['skipped']
        name = os.path.splitext(os.path.basename(f))[0]
        print('%s: %d passed, %d failed, %d skipped' % (name, passed, failed, c['skipped']))
    print('total: %d passed, %d failed, %d skipped' % (grand['passed'], grand['failed'], grand['skipped']))
    if grand['failed'] or not grand['passed']:
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
