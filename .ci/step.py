#!/usr/bin/env python3
"""Run one check that is not a pytest run and record it as a JUnit report.

usage: .ci/step.py NAME REPORT_DIR -- COMMAND [ARG...]

Runs COMMAND (output passes through), then writes REPORT_DIR/NAME.xml: one test case
NAME, failed when COMMAND exits non-zero, with its wall time. So that `make test`'s
closing summary (.ci/summary.py, which reads every report in REPORT_DIR) counts
ansible-lint, the docs and changelog checks, the ansible-runner run and so on next to
the pytest runs, with a line per check. Exits with COMMAND's exit code.
"""

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET


def main():
    if len(sys.argv) < 5 or sys.argv[3] != '--':
        sys.exit(__doc__.strip().splitlines()[2])
    name, report_dir, cmd = sys.argv[1], sys.argv[2], sys.argv[4:]
    start = time.time()
    rc = subprocess.call(cmd)
    seconds = time.time() - start
    suite = ET.Element('testsuite', name=name, tests='1', failures='1' if rc else '0',
                       errors='0', skipped='0', time='%.1f' % seconds)
    case = ET.SubElement(suite, 'testcase', classname='ci', name=name, time='%.1f' % seconds)
    if rc:
        ET.SubElement(case, 'failure', message='%s exited %d' % (' '.join(cmd), rc))
    os.makedirs(report_dir, exist_ok=True)
    ET.ElementTree(suite).write(os.path.join(report_dir, name + '.xml'), encoding='utf-8',
                                xml_declaration=True)
    print('%s: %s in %.0f s' % (name, 'FAILED (exit %d)' % rc if rc else 'passed', seconds), flush=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())
