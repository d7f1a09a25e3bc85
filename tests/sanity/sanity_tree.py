#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of run-sanity.sh: stage a collection for ansible-test, merge its JUnit reports.

``stage SRC BUILD_ROOT``
    Copy the collection at SRC into BUILD_ROOT/ansible_collections/NAMESPACE/NAME/ (the
    layout ansible-test requires; anything already there is replaced) and print that
    path.  SRC is either an installed/built collection (it has a MANIFEST.json: copied
    whole) or a source tree (it has a galaxy.yml: copied minus what ``ansible-galaxy
    collection build`` would leave out, i.e. galaxy.yml's build_ignore and galaxy's own
    default ignores, but keeping galaxy.yml).  Caches (__pycache__, *.pyc) and
    ansible-test output (tests/output) are never copied.

``stage SRC BUILD_ROOT TESTS_SRC``
    The same, and when the copy has no ``tests/`` (the built tarball leaves it out, see
    galaxy.yml's build_ignore), add ``TESTS_SRC/tests`` (a source tree), minus caches and
    ansible-test output: sanity covers the tests and reads the ignore files from there.

``junit OUT REPORT...``
    Merge the one-test-per-file JUnit reports that ``ansible-test sanity --junit``
    writes into a single report OUT with one test suite named "sanity".

Runs with the Python of the virtualenv that holds ansible-test (it needs PyYAML).
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import sys
import xml.etree.ElementTree as ET

import yaml

# What ansible-galaxy always leaves out of a built collection (besides galaxy.yml).
GALAXY_DEFAULT_IGNORES = ('.git', '*.pyc', '*.retry', 'tests/output')
ALWAYS_SKIPPED = ('.git', '__pycache__', '*.pyc', '*.pyo', 'tests/output')


def collection_info(src):
    """Return (namespace, name, ignore_patterns) for the collection at src."""
    manifest = os.path.join(src, 'MANIFEST.json')
    galaxy = os.path.join(src, 'galaxy.yml')

    if os.path.isfile(galaxy):
        with open(galaxy, encoding='utf-8') as galaxy_file:
            info = yaml.safe_load(galaxy_file)

        patterns = list(GALAXY_DEFAULT_IGNORES) + list(info.get('build_ignore') or [])
        patterns.append('%s-%s-*.tar.gz' % (info['namespace'], info['name']))

        return info['namespace'], info['name'], patterns

    if os.path.isfile(manifest):
        with open(manifest, encoding='utf-8') as manifest_file:
            info = json.load(manifest_file)['collection_info']

        return info['namespace'], info['name'], []

    sys.exit('sanity_tree: %s is not a collection (no galaxy.yml nor MANIFEST.json)' % src)


def ignored(rel_path, patterns):
    """Return True if the relative path matches one of the patterns (as ansible-galaxy matches them)."""
    name = os.path.basename(rel_path)

    return (any(fnmatch.fnmatch(rel_path, pattern) for pattern in patterns)
            or any(fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(rel_path, pattern) for pattern in ALWAYS_SKIPPED))


def copy_tree(src, dest, patterns):
    """Copy the files under src to dest, minus what patterns (and ALWAYS_SKIPPED) leave out."""
    for root, dirs, files in os.walk(src):
        rel_root = os.path.relpath(root, src)
        rel_root = '' if rel_root == '.' else rel_root
        dirs[:] = sorted(d for d in dirs if not ignored(os.path.join(rel_root, d), patterns))

        for directory in dirs:
            os.makedirs(os.path.join(dest, rel_root, directory), exist_ok=True)

        for file_name in files:
            rel_path = os.path.join(rel_root, file_name)

            if not ignored(rel_path, patterns):
                shutil.copy2(os.path.join(src, rel_path), os.path.join(dest, rel_path), follow_symlinks=False)


def stage(src, build_root, tests_src=None):
    """Copy the collection at src under build_root and return the copy's path; add
    tests_src/tests when the copy has no tests/."""
    src = os.path.abspath(src)
    namespace, name, patterns = collection_info(src)
    dest = os.path.join(os.path.abspath(build_root), 'ansible_collections', namespace, name)

    inside = dest.startswith(src + os.sep) and not ignored(os.path.relpath(dest, src).split(os.sep, 1)[0], patterns)

    if dest == src or inside:
        sys.exit('sanity_tree: %s would be copied into itself; pick a build root that build_ignore excludes' % dest)

    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    copy_tree(src, dest, patterns)

    tests = os.path.join(os.path.abspath(tests_src), 'tests') if tests_src else None
    if tests and not os.path.exists(os.path.join(dest, 'tests')):
        if not os.path.isdir(tests):
            sys.exit('sanity_tree: no tests/ in %s to add to the staged collection' % tests_src)
        os.makedirs(os.path.join(dest, 'tests'))
        copy_tree(tests, os.path.join(dest, 'tests'), ['output'])

    return dest


def merge_junit(out, reports):
    """Merge ansible-test's per-test JUnit reports into one suite."""
    suite = ET.Element('testsuite', name='sanity')
    totals = dict(tests=0, failures=0, errors=0, skipped=0)

    for report in sorted(reports):
        root = ET.parse(report).getroot()

        for case in root.iter('testcase'):
            totals['tests'] += 1
            totals['failures'] += len(case.findall('failure'))
            totals['errors'] += len(case.findall('error'))
            totals['skipped'] += len(case.findall('skipped'))
            # ansible-test names every case after the test only ("compile"); keep the python version apart
            base = os.path.splitext(os.path.basename(report))[0].replace('ansible-test-sanity-', '')
            case.set('name', base)
            suite.append(case)

    for key, value in totals.items():
        suite.set(key, str(value))

    tree = ET.ElementTree(ET.Element('testsuites'))
    tree.getroot().append(suite)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tree.write(out, encoding='utf-8', xml_declaration=True)
    failed = totals['failures'] + totals['errors']
    print('sanity: %d passed, %d failed, %d skipped' % (totals['tests'] - failed - totals['skipped'], failed, totals['skipped']))


def main():
    """Main entry point."""
    if len(sys.argv) in (4, 5) and sys.argv[1] == 'stage':
        print(stage(*sys.argv[2:]))
    elif len(sys.argv) >= 3 and sys.argv[1] == 'junit':
        merge_junit(sys.argv[2], sys.argv[3:])
    else:
        sys.exit('usage: sanity_tree.py stage SRC BUILD_ROOT [TESTS_SRC] | junit OUT REPORT...')


if __name__ == '__main__':
    main()
