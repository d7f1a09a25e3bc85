#!/usr/bin/env python3
"""Lint the collection's docs and build them as the Ansible docsite would, offline.

usage: .ci/docs_check.py [REPO]   (run with the python of .venv-docs, which has
antsibull-docs, Sphinx, sphinx-ansible-theme and ansible-core; `make docs` does, with
ANSIBLE_COLLECTIONS_PATH pointing at the built and installed collection)

1. ``antsibull-docs lint-collection-docs --plugin-docs REPO``: the plugin docs (schema,
   markup, references to options and return values) and docs/docsite (extra-docs.yml,
   links.yml and the rst guides) of the source tree.
2. A docs build in a temp dir: ``antsibull-docs sphinx-init --use-current`` and the steps
   of the build.sh it writes: ``antsibull-docs collection --use-current`` (from the
   installed collection, i.e. the tarball's content, with docs/docsite when it has one)
   and ``sphinx-build`` (nitpicky). Sphinx warnings fail the build, except one kind:
   references to labels of other documentation (ansible.builtin's modules, the Ansible
   docsite) cannot resolve here, where the inventories of docs.ansible.com are out of
   reach, so intersphinx is off and undefined labels outside this collection are
   reported and allowed.
3. The HTML of each module exists, and the page of async_task holds an anchor for each
   of its options (read from the module's DOCUMENTATION) and return values; each guide
   of docs/docsite/rst has its HTML page.
The build dir is removed afterwards, unless DOCS_KEEP=1.
"""

import ast
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

COLLECTION = 'asyncjobs.named'
CHECKED_MODULE = 'async_task'
OWN_LABEL = 'ansible_collections.%s.' % COLLECTION


def sh(cmd, cwd, env, log=None):
    print('docs: $ %s' % ' '.join(cmd), flush=True)
    if log is None:
        return subprocess.run(cmd, cwd=cwd, env=env, check=False).returncode
    with open(log, 'w', encoding='utf-8') as out:
        rc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                            check=False).returncode
    if rc != 0:
        with open(log, encoding='utf-8') as f:
            sys.stdout.write(f.read()[-6000:])
    return rc


def documentation(repo, module):
    path = os.path.join(repo, 'plugins', 'modules', module + '.py')
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name = getattr(node.targets[0], 'id', None)
            if name in ('DOCUMENTATION', 'RETURN'):
                found[name] = yaml.safe_load(ast.literal_eval(node.value)) or {}
    return found


def main():
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else '.')
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get('PATH', ''))
    tool = os.path.join(bindir, 'antsibull-docs')
    errors = []

    # 1. lint
    if sh([tool, 'lint-collection-docs', '--plugin-docs', repo], repo, env) != 0:
        errors.append('antsibull-docs lint-collection-docs --plugin-docs failed')

    # 2. build
    if not env.get('ANSIBLE_COLLECTIONS_PATH'):
        errors.append('ANSIBLE_COLLECTIONS_PATH is not set: the build documents the installed collection')
        return report(errors)
    tmp = tempfile.mkdtemp(prefix='docs-build-')
    try:
        errors += build(repo, tmp, tool, env)
    finally:
        if os.environ.get('DOCS_KEEP') == '1':
            print('docs: build kept in %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return report(errors)


def build(repo, tmp, tool, env):
    errors = []
    if sh([tool, 'sphinx-init', '--use-current', '--dest-dir', tmp, COLLECTION], tmp, env,
          log=os.path.join(tmp, 'sphinx-init.log')) != 0:
        return ['antsibull-docs sphinx-init failed']
    # offline: no inventories of other docs to fetch (see the module docstring)
    with open(os.path.join(tmp, 'conf.py'), 'a', encoding='utf-8') as f:
        f.write('\n# .ci/docs_check.py: offline build, no other docs to link to\nintersphinx_mapping = {}\n')
    rst = os.path.join(tmp, 'rst')
    os.makedirs(rst, exist_ok=True)
    os.chmod(rst, 0o755)  # antsibull-docs wants it writable only by itself
    if sh([tool, '--config-file', 'antsibull-docs.cfg', 'collection', '--cleanup', 'everything',
           '--use-current', '--dest-dir', 'rst', COLLECTION], tmp, env,
          log=os.path.join(tmp, 'collection.log')) != 0:
        return ['antsibull-docs collection --use-current failed']
    warnings_file = os.path.join(tmp, 'sphinx-warnings.txt')
    sphinx = os.path.join(os.path.dirname(tool), 'sphinx-build')
    if sh([sphinx, '-M', 'html', 'rst', 'build', '-c', '.', '-n', '-q', '-w', warnings_file],
          tmp, env, log=os.path.join(tmp, 'sphinx.log')) != 0:
        errors.append('sphinx-build failed')
    external, bad = [], []
    with open(warnings_file, encoding='utf-8') as f:
        for line in f:
            line = line.rstrip()
            if not line:
                continue
            m = re.search(r"undefined label: '([^']+)'", line)
            if m and not m.group(1).startswith(OWN_LABEL):
                external.append(m.group(1))
            elif 'WARNING' in line or 'ERROR' in line:
                bad.append(line)
    if external:
        print('docs: %d reference(s) to other docs left unresolved offline (allowed): %s'
              % (len(external), ', '.join(sorted(set(external)))))
    errors += ['sphinx: %s' % line for line in bad]

    html = os.path.join(tmp, 'build', 'html', 'collections', *COLLECTION.split('.'))
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(repo, 'plugins', 'modules', '*.py'))
                     if not p.endswith('__init__.py'))
    for module in modules:
        if not os.path.isfile(os.path.join(html, '%s_module.html' % module)):
            errors.append('no HTML page for module %s' % module)
    page = os.path.join(html, '%s_module.html' % CHECKED_MODULE)
    if os.path.isfile(page):
        with open(page, encoding='utf-8') as f:
            text = f.read()
        doc = documentation(repo, CHECKED_MODULE)
        options = sorted((doc.get('DOCUMENTATION') or {}).get('options') or {})
        returns = sorted(doc.get('RETURN') or {})
        missing = (['option %s' % o for o in options if 'id="parameter-%s"' % o not in text]
                   + ['return value %s' % r for r in returns if 'id="return-%s"' % r not in text])
        if not options:
            errors.append('%s documents no options' % CHECKED_MODULE)
        if missing:
            errors.append('%s_module.html lacks %s' % (CHECKED_MODULE, ', '.join(missing)))
        else:
            print('docs: %s_module.html holds all %d options and %d return values'
                  % (CHECKED_MODULE, len(options), len(returns)))
    guides = sorted(glob.glob(os.path.join(repo, 'docs', 'docsite', 'rst', '*.rst')))
    for guide in guides:
        name = os.path.splitext(os.path.basename(guide))[0]
        if not os.path.isfile(os.path.join(html, 'docsite', name + '.html')):
            errors.append('no HTML page for the guide docs/docsite/rst/%s.rst (listed in '
                          'docs/docsite/extra-docs.yml? shipped in the tarball?)' % name)
    print('docs: built %d module page(s) and %d guide(s)' % (len(modules), len(guides)))
    return errors


def report(errors):
    for e in errors:
        print('docs: ERROR: %s' % e, file=sys.stderr)
    print('docs: %s' % ('FAILED' if errors else 'lint and build passed'))
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
