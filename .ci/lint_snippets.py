#!/usr/bin/env python3
"""ansible-lint on the playbook snippets of the docs, as on examples/.

usage: .ci/lint_snippets.py ANSIBLE_LINT [DOC...]   (`make lint` runs it with
.venv-lint/bin/ansible-lint on README.md and docs/docsite/rst/*.rst)

Users copy snippets from the docs as they copy the examples, so the snippets pass
``ansible-lint --profile production`` too. Each YAML code block (Markdown ```yaml fences;
reStructuredText ``.. code-block:: yaml`` or ``yaml+jinja``) that is a play list (items
with ``hosts``) is written as a playbook, one that is a task list (or one task) as a
tasks file, into a temp dir, and ansible-lint checks them all with the repository's
.ansible-lint (its exclude_paths do not apply there). Anything else (inventories, plain
data) is left alone. A block that shows a form on purpose (the design's short names and
free-form arguments) is skipped when the line before it is the comment
``<!-- lint: skip, REASON -->`` (Markdown) or ``.. lint: skip, REASON`` (rst); the reason
is required. ansible-lint's messages name the snippet by DOC and line.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MD_SKIP = re.compile(r'^\s*<!--\s*lint:\s*skip,\s*\S.*-->\s*$')
RST_SKIP = re.compile(r'^\s*\.\.\s+lint:\s*skip,\s*\S')


def md_blocks(lines):
    i = 0
    while i < len(lines):
        m = re.match(r'^(\s*)```\s*(yaml|yml|yaml\+jinja)\s*$', lines[i])
        if not m:
            i += 1
            continue
        start, indent = i, len(m.group(1))
        i += 1
        body = []
        while i < len(lines) and not re.match(r'^\s*```\s*$', lines[i]):
            body.append(lines[i][indent:])
            i += 1
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), '')
        yield start + 1, '\n'.join(body), bool(MD_SKIP.match(prev))
        i += 1


def rst_blocks(lines):
    i = 0
    while i < len(lines):
        m = re.match(r'^(\s*)\.\.\s+code-block::\s*(yaml|yml|yaml\+jinja)\s*$', lines[i])
        if not m:
            i += 1
            continue
        start, base = i, len(m.group(1))
        i += 1
        while i < len(lines) and (not lines[i].strip() or re.match(r'^\s+:\w+:', lines[i])):
            i += 1
        body = []
        indent = None
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > base):
            if lines[i].strip() and indent is None:
                indent = len(lines[i]) - len(lines[i].lstrip())
            body.append(lines[i][indent or 0:] if lines[i].strip() else '')
            i += 1
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), '')
        yield start + 1, '\n'.join(body).rstrip() + '\n', bool(RST_SKIP.match(prev))


def kind_of(text):
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(data, dict) and any(k for k in data if '.' in str(k) or k == 'name'):
        return 'task'
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        return 'playbook' if all('hosts' in x or 'import_playbook' in x or 'ansible.builtin.import_playbook' in x
                                 for x in data) else 'tasks'
    return None


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    lint, docs = os.path.abspath(sys.argv[1]), sys.argv[2:]
    tmp = tempfile.mkdtemp(prefix='lint-snippets-')
    written, skipped = [], 0
    try:
        os.makedirs(os.path.join(tmp, 'tasks'))
        for doc in docs:
            with open(doc, encoding='utf-8') as f:
                lines = f.read().splitlines()
            blocks = rst_blocks(lines) if doc.endswith('.rst') else md_blocks(lines)
            for line, text, skip in blocks:
                if skip:
                    skipped += 1
                    continue
                kind = kind_of(text)
                if kind is None:
                    continue
                stem = re.sub(r'[^A-Za-z0-9]+', '_', os.path.relpath(doc, REPO)).strip('_')
                name = '%s_line%d.yml' % (stem, line)
                if kind == 'task':
                    text = '- ' + text.replace('\n', '\n  ').rstrip() + '\n'
                path = os.path.join(tmp, name) if kind == 'playbook' else os.path.join(tmp, 'tasks', name)
                with open(path, 'w', encoding='utf-8') as f:
                    f.write('---\n' + text.rstrip() + '\n')
                written.append(os.path.relpath(path, tmp))
        print('lint-snippets: %d snippet(s) from %d doc(s), %d skipped on purpose'
              % (len(written), len(docs), skipped))
        if not written:
            return 0
        shutil.copy(os.path.join(REPO, '.ansible-lint'), os.path.join(tmp, '.ansible-lint'))
        # the repository's exclude_paths name its files, not these
        with open(os.path.join(tmp, '.ansible-lint'), encoding='utf-8') as f:
            config = yaml.safe_load(f)
        config.pop('exclude_paths', None)
        with open(os.path.join(tmp, '.ansible-lint'), 'w', encoding='utf-8') as f:
            yaml.safe_dump(config, f)
        return subprocess.call([lint, '--nocolor'] + written, cwd=tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
